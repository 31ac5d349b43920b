"""R1 machinery: power-loss runs of SGD / Adam / Adagrad, their summaries, tables and figures.

The config is ``regression.PowerLossConfig``; arrays are indexed
[seed, method, gamma, learning rate, record step] throughout.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import optim, plotting
from jaxopt_course.problems import power_regression as pr
from jaxopt_course.results import divergence_message
from jaxopt_course.run import optimizer_init, optimizer_step, run, stride_grid
from jaxopt_course.stats import mean_and_standard_error

# ----------------------------------------------------------------------------- compute


def gradient_noise(key: jax.Array, shape: tuple, kind: str, scale: float, df: float):
    """xi = 0 (None), s z with z ~ N(0, I), or s t with t_j i.i.d. Student-t(df)."""
    if kind == "none":
        return None
    if kind == "gaussian":
        return scale * jax.random.normal(key, shape)
    if kind == "student_t":
        return scale * jax.random.t(key, df, shape)
    raise ValueError(f"unknown gradient noise {kind!r}")


def make_optimizer(config, method: str, lr) -> optim.GradientTransformation:
    """The hand-written optimizer named ``method`` with step size lr."""
    if method == "sgd":
        return optim.sgd(lr)
    if method == "adam":
        return optim.adam(lr, config.adam_b1, config.adam_b2, config.adam_eps)
    if method == "adagrad":
        return optim.adagrad(lr, config.adagrad_initial_accumulator_value, config.adagrad_eps,
                             config.adagrad_eps_inside_sqrt)
    raise ValueError(f"unknown method {method!r}")


def _sampler(config):
    """(key, n) -> (n rows of minibatch indices, n gradient-noise vectors or None)."""

    def sample(key, n):
        k_idx, k_noise = jax.random.split(key)
        idx = jax.random.randint(k_idx, (n, config.batch_size), 0, config.num_train)
        noise = gradient_noise(k_noise, (n, config.dim), config.grad_noise, config.grad_noise_scale,
                               config.grad_noise_df)
        return idx, noise

    return sample


def _diverged(threshold: float):
    """state -> theta non-finite or ||theta||_inf > threshold."""

    def diverged(state):
        theta = state.params
        return ~jnp.all(jnp.isfinite(theta)) | (jnp.max(jnp.abs(theta)) > threshold)

    return diverged


def power_run(config, method: str, data: pr.RegressionData, theta0, key, gamma, lr):
    """One run of ``method`` on f_gamma from theta0: metrics every ``record_every`` steps, divergence step."""
    opt = make_optimizer(config, method, lr)

    def grad(theta, noise):
        idx, xi = noise
        g = pr.power_loss_grad(theta, data.a_train[idx], data.y_train[idx], gamma)
        return g if xi is None else g + xi

    def metrics(state):
        theta = state.params
        return {"test_loss": pr.power_loss(theta, data.a_test, data.y_test, gamma),
                "train_loss": pr.power_loss(theta, data.a_train, data.y_train, gamma),
                "distance": jnp.linalg.norm(theta - data.theta_true)}

    trace = run(optimizer_step(grad, opt), optimizer_init(theta0, opt), config.num_steps, metrics=metrics,
                record=stride_grid(config.num_steps, config.record_every), key=key, sample=_sampler(config),
                diverged=_diverged(config.divergence_threshold))
    return trace.metrics, trace.diverged_at


def power_replicate(config, key: jax.Array, data: pr.RegressionData):
    """One replicate: theta_0 ~ U(0, init_high)^d, then every method x gamma x learning rate.

    Gammas and rates are vmapped; the methods (different optimizer states) are a
    Python loop inside the same trace. All runs of a replicate share theta_0 and
    the sampled indices (common random numbers), so methods are compared paired.
    """
    k_init, k_run = jax.random.split(key)
    dtype = data.a_train.dtype
    theta0 = jax.random.uniform(k_init, (config.dim,), dtype, 0.0, config.init_high)
    gammas = jnp.asarray(config.gammas, dtype)
    lrs = jnp.asarray(config.learning_rates, dtype)
    out = {}
    for method in config.methods:
        one = functools.partial(power_run, config, method, data, theta0, k_run)
        out[method] = jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(gammas, lrs)
    return out


def least_squares_reference(data: pr.RegressionData, gammas) -> dict:
    """theta_LS by a solve, ||theta_LS - theta_true|| and the test loss f_gamma(theta_LS) per gamma."""
    theta = pr.least_squares_solution(data.a_train, data.y_train)
    return {"distance": float(jnp.linalg.norm(theta - data.theta_true)),
            "test_loss": np.array([float(pr.power_loss(theta, data.a_test, data.y_test, g)) for g in gammas])}


# ----------------------------------------------------------------------------- summaries


def first_divergence(diverged_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first step any replicate diverged or -1, number of diverged replicates), over axis 0."""
    hit = diverged_at >= 0
    first = np.where(hit, diverged_at, np.iinfo(np.int32).max).min(0)
    return np.where(hit.any(0), first, -1).astype(np.int32), hit.sum(0).astype(np.int32)


def valid_mask(steps: np.ndarray, first: np.ndarray) -> np.ndarray:
    """True at the record steps before the first divergence (every step when there was none)."""
    return (first[..., None] < 0) | (steps < first[..., None])


def summarize(out: dict, methods, steps) -> dict:
    """Stack the methods and reduce over replicates: means, standard errors, divergence, validity."""
    steps = np.asarray(steps)
    raw = {name: np.stack([np.asarray(out[m][0][name]) for m in methods], 1)
           for name in ("test_loss", "train_loss", "distance")}  # (S, M, G, L, R)
    first, count = first_divergence(np.stack([np.asarray(out[m][1]) for m in methods], 1))
    valid = valid_mask(steps, first)
    summary = {"steps": steps, "first_diverged": first, "num_diverged": count, "valid": valid,
               "final_test_loss": raw["test_loss"][..., -1], "final_train_loss": raw["train_loss"][..., -1]}
    for name, values in raw.items():
        mean, se = (np.asarray(v, np.float64) for v in mean_and_standard_error(values))
        summary[f"{name}_mean"] = np.where(valid, mean, np.nan)
        summary[f"{name}_se"] = np.where(valid, se, np.nan)
    return summary


def divergence_text(first: int, count: int, total: int) -> str:
    """'diverged at step k in r of S replicates'."""
    return f"{divergence_message(first)} in {count} of {total} replicates"


def _cell(summary: dict, m: int, g: int, lr: int, total: int) -> dict:
    """Best-over-time and final test loss (mean, SE), final distance, or the divergence message."""
    first, count = int(summary["first_diverged"][m, g, lr]), int(summary["num_diverged"][m, g, lr])
    if first >= 0:
        return {"diverged": divergence_text(first, count, total), "diverged_at_step": first,
                "diverged_replicates": count}
    mean, se = summary["test_loss_mean"][m, g, lr], summary["test_loss_se"][m, g, lr]
    best = int(np.argmin(mean))
    return {"best_test_loss": mean[best], "best_stderr": se[best], "best_at_step": int(summary["steps"][best]),
            "final_test_loss": mean[-1], "final_stderr": se[-1],
            "final_distance": summary["distance_mean"][m, g, lr, -1],
            "final_distance_stderr": summary["distance_se"][m, g, lr, -1]}


def course_table(summary: dict, config) -> dict:
    """{method: {gamma: cell}} at the course's shared learning rate."""
    lr = config.learning_rates.index(config.learning_rate)
    return {m: {f"{g:g}": _cell(summary, i, j, lr, config.seeds) for j, g in enumerate(config.gammas)}
            for i, m in enumerate(config.methods)}


def best_rates(summary: dict) -> np.ndarray:
    """Per (method, gamma): the learning-rate index with the least final mean *training* loss, -1 if all diverged."""
    train = np.where(summary["first_diverged"] < 0, summary["train_loss_mean"][..., -1], np.inf)
    return np.where(np.isfinite(train).any(-1), np.argmin(train, -1), -1)


def _final_or_divergence(cell: dict):
    """The final mean test loss of a cell, or its divergence message."""
    return cell["diverged"] if "diverged" in cell else cell["final_test_loss"]


def sweep_table(summary: dict, config, best: np.ndarray) -> dict:
    """{method: {gamma: best rate, its cell, and the final test loss (or divergence) at every rate}}."""
    table = {}
    for i, m in enumerate(config.methods):
        table[m] = {}
        for j, g in enumerate(config.gammas):
            per_lr = {f"{lr:g}": _final_or_divergence(_cell(summary, i, j, k, config.seeds))
                      for k, lr in enumerate(config.learning_rates)}
            b = int(best[i, j])
            entry = {"best_lr": None if b < 0 else config.learning_rates[b],
                     "at_grid_edge": b in (0, len(config.learning_rates) - 1), "final_test_loss_per_lr": per_lr}
            table[m][f"{g:g}"] = entry | ({} if b < 0 else _cell(summary, i, j, b, config.seeds))
    return table


def winners(summary: dict, config, best: np.ndarray) -> dict:
    """Per gamma: the method with the least final mean test loss at its own best rate.

    ``clear`` says whether it beats the runner-up by more than ``num_stderr``
    standard errors of the paired (same replicate) difference of final test losses.
    """
    final = summary["final_test_loss"]  # (S, M, G, L)
    out = {}
    for j, g in enumerate(config.gammas):
        ok = [i for i in range(len(config.methods)) if best[i, j] >= 0]
        if not ok:
            out[f"{g:g}"] = {"method": None, "note": "every method diverged at every rate"}
            continue
        losses = {i: final[:, i, j, best[i, j]] for i in ok}
        order = sorted(ok, key=lambda i: losses[i].mean())
        entry = {"method": config.methods[order[0]], "lr": config.learning_rates[best[order[0], j]],
                 "final_test_loss": losses[order[0]].mean()}
        if len(order) > 1:
            diff, se = mean_and_standard_error(losses[order[1]] - losses[order[0]])
            entry |= {"runner_up": config.methods[order[1]], "margin": float(diff), "margin_stderr": float(se),
                      "clear": bool(diff > config.num_stderr * se)}
        out[f"{g:g}"] = entry
    return out


# ----------------------------------------------------------------------------- printed tables


def _fmt(cell: dict, which: str = "best") -> str:
    """'mean +- SE' of the best-over-time (or final) test loss, or 'diverged@k (r reps)'."""
    if "diverged" in cell:
        return f"diverged@{cell['diverged_at_step']} ({cell['diverged_replicates']} reps)"
    return f"{cell[f'{which}_test_loss']:.3g} +- {cell[f'{which}_stderr']:.1g}"


def _fmt_rate(cell: dict) -> str:
    """'lr: final mean +- SE' at the best rate ('*' if the rate is at the edge of the grid)."""
    if cell["best_lr"] is None:
        return "all diverged"
    return f"{cell['best_lr']:g}{'*' if cell['at_grid_edge'] else ''}: {_fmt(cell, 'final')}"


def format_tables(metrics: dict, config) -> list[str]:
    """The best-values table, the per-method best rates and the winners as text lines."""
    width = 25
    head = "method   " + "".join(f"{'gamma=%g' % g:{width}s}" for g in config.gammas)
    lines = [f"R1 best mean test loss over steps (+- 1 SE, {config.seeds} replicates), shared lr "
             f"{config.learning_rate:g}:", head]
    for m, row in metrics["course_table"].items():
        lines.append(f"{m:9s}" + "".join(f"{_fmt(c):{width}s}" for c in row.values()))
    lines += ["R1 best lr per method (least final training loss; * = grid edge): final test loss +- 1 SE", head]
    for m, row in metrics["lr_sweep"].items():
        lines.append(f"{m:9s}" + "".join(f"{_fmt_rate(c):{width}s}" for c in row.values()))
    lines.append("R1 winner at its own best lr (final test loss; 'not clear' = margin < "
                 f"{config.num_stderr:g} paired SE): " + "; ".join(
                     f"gamma={g}: {w['method']}{'' if w.get('clear', True) else ' (not clear)'}"
                     for g, w in metrics["winners"].items()))
    return lines


# ----------------------------------------------------------------------------- figures

_COLORS = {"sgd": "C0", "adam": "C1", "adagrad": "C2"}


def mean_band(ax, x, mean, se, *, k: float, label: str, color=None, log: bool = False):
    """The mean over replicates with a shaded band mean +- k SE (entries marked NaN are left out)."""
    keep = np.isfinite(mean)
    (line,) = ax.plot(x[keep], mean[keep], label=label, color=color)
    # On a log axis a band reaching below 0 is drawn down to mean / 100.
    lower = np.maximum(mean - k * se, mean / 100) if log else mean - k * se
    ax.fill_between(x[keep], lower[keep], (mean + k * se)[keep], color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def _curve_label(data: dict, m: int, g: int, lr: int, prefix: str) -> str:
    """Legend text, with the divergence step when the run diverged."""
    first = int(data["first_diverged"][m, g, lr])
    if first < 0:
        return prefix
    return f"{prefix} (diverged at step {first} in {int(data['num_diverged'][m, g, lr])} replicates)"


def plot_curves(data: dict, out_path, lr_index: np.ndarray, title: str, k: float):
    """One panel per gamma, one line per method: test loss mean +- k SE against the step."""
    methods, gammas, lrs = list(data["methods"]), data["gammas"], data["learning_rates"]
    fig, axes = plotting.figure(2, (len(gammas) + 1) // 2, width=4.6, height=3.4)
    plotted = {}
    for j, (ax, g) in enumerate(zip(np.ravel(axes), gammas)):
        for i, m in enumerate(methods):
            lr = int(lr_index[i, j])
            if lr < 0:
                continue
            mean, se = data["test_loss_mean"][i, j, lr], data["test_loss_se"][i, j, lr]
            mean_band(ax, data["steps"], mean, se, k=k, color=_COLORS.get(m), log=True,
                      label=_curve_label(data, i, j, lr, f"{m}, lr {lrs[lr]:g}"))
            plotted[f"{m}_gamma{g:g}_mean"], plotted[f"{m}_gamma{g:g}_se"] = mean, se
        ax.axhline(data["ls_test_loss"][j], color="k", ls="--", lw=0.8, label="least squares")
        plotting.label(ax, "step k", rf"test loss $\frac{{1}}{{M}}\sum|a\cdot\theta_k-y|^{{{g:g}}}$",
                       rf"$\gamma={g:g}$: mean $\pm$ {k:g} SE", logy=True)
    fig.suptitle(title, fontsize=10)
    return plotting.save(fig, out_path, {"steps": data["steps"], **plotted})


def plot_sweep(data: dict, out_path, k: float):
    """One panel per gamma: final test loss (mean +- k SE) against the learning rate, per method."""
    methods, gammas, lrs = list(data["methods"]), data["gammas"], data["learning_rates"]
    fig, axes = plotting.figure(2, (len(gammas) + 1) // 2, width=4.6, height=3.4)
    for j, (ax, g) in enumerate(zip(np.ravel(axes), gammas)):
        for i, m in enumerate(methods):
            ok = data["first_diverged"][i, j] < 0
            mean, se = data["test_loss_mean"][i, j, :, -1], data["test_loss_se"][i, j, :, -1]
            note = "" if ok.all() else f" (diverged at lr {', '.join(f'{v:g}' for v in lrs[~ok])})"
            ax.errorbar(lrs[ok], mean[ok], yerr=k * se[ok], marker="o", ms=3, capsize=2, color=_COLORS.get(m),
                        label=m + note)
        plotting.label(ax, r"learning rate $\eta$", r"final test loss", rf"$\gamma={g:g}$, step "
                       f"{int(data['steps'][-1])}: mean $\\pm$ {k:g} SE", logx=True, logy=True)
    return plotting.save(fig, out_path, {"learning_rates": lrs, "final_mean": data["test_loss_mean"][..., -1],
                                         "final_se": data["test_loss_se"][..., -1],
                                         "first_diverged": data["first_diverged"]})


def _final_distance(data: dict, i: int, lr_per_gamma) -> tuple[np.ndarray, np.ndarray]:
    """(mean, SE) of the final ||theta - theta_true|| of method i at the given rate per gamma (NaN: none)."""
    mean, se = (np.array([data[name][i, j, lr, -1] if lr >= 0 else np.nan for j, lr in enumerate(lr_per_gamma)])
                for name in ("distance_mean", "distance_se"))
    return mean, se


def plot_distance(data: dict, out_path, course_lr: int, best: np.ndarray, k: float):
    """Final ||theta - theta_true|| per gamma and method, at the course's rate and at each best rate."""
    methods, gammas = list(data["methods"]), data["gammas"]
    fig, axes = plotting.figure(1, 2, width=5.6, height=3.6)
    x, width, saved = np.arange(len(gammas)), 0.8 / len(methods), {}
    for ax, name in zip(axes, ("course", "best")):
        for i, m in enumerate(methods):
            mean, se = _final_distance(data, i, np.full(len(gammas), course_lr) if name == "course" else best[i])
            ok, offset = np.isfinite(mean), (i - (len(methods) - 1) / 2) * width
            ax.bar(x[ok] + offset, mean[ok], width, yerr=k * se[ok], capsize=2, color=_COLORS.get(m), label=m)
            saved[f"{name}_{m}_mean"], saved[f"{name}_{m}_se"] = mean, se
        ax.axhline(float(data["ls_distance"]), color="k", ls="--", lw=0.8, label="least squares")
        ax.set_xticks(x, [f"{g:g}" for g in gammas])
        title = f"at lr {data['learning_rates'][course_lr]:g}" if name == "course" else "at each best lr"
        plotting.label(ax, r"$\gamma$", r"$\|\theta_T-\theta_{true}\|_2$", f"final distance {title} "
                       f"(mean $\\pm$ {k:g} SE; missing bar = diverged)", logy=True)
    return plotting.save(fig, out_path, saved)

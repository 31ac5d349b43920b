"""R1's runs and summaries: SGD, Adam and Adagrad on the power losses f_gamma.

A run minimizes f_gamma(theta) = 1/N sum_i |a_i . theta - y_i|^gamma with batch-B
stochastic gradients (plus optional gradient noise xi = s z) from theta_0; the
summaries reduce over replicates (the ``seed`` dimension) per cell (method, gamma,
learning_rate, grad_noise_scale).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from jaxopt_course import divergence, optim
from jaxopt_course import run as runner
from jaxopt_course.experiments.regression import tables
from jaxopt_course.problems import power_regression as pr
from jaxopt_course.stats import mean_and_standard_error

METHODS = ("sgd", "adam", "adagrad")
GRAD_NOISES = ("gaussian", "student_t")
CURVES = ("test_loss", "train_loss", "distance")
CELL = ("grad_noise_scale", "method", "gamma")  # how metrics name a (method, gamma) cell

# ----------------------------------------------------------------------------- compute


def gradient_noise(key: jax.Array, shape: tuple, kind: str, scale, df: float):
    """xi = 0 (None for 'none'), s z with z ~ N(0, I) ('gaussian'), or s t with t_j i.i.d. Student-t(df)."""
    if kind == "none":
        return None
    if kind == "gaussian":
        return scale * jax.random.normal(key, shape)
    if kind == "student_t":
        return scale * jax.random.t(key, df, shape)
    raise ValueError(f"unknown gradient noise {kind!r}")


def optimizer_options(config, method: str) -> dict:
    """The config's options of ``method`` for ``optim.optimizer`` (Adam's b1, b2, eps; Adagrad's G_0, eps)."""
    if method == "adam":
        return {"b1": config.adam_b1, "b2": config.adam_b2, "eps": config.adam_eps}
    if method == "adagrad":
        return {"initial_accumulator_value": config.adagrad_initial_accumulator_value, "eps": config.adagrad_eps,
                "eps_inside_sqrt": config.adagrad_eps_inside_sqrt}
    return {}


def sampler(config, kind: str, scale):
    """(key, n) -> (n rows of B uniform indices, n gradient-noise vectors s z or None)."""

    def sample(key, n):
        k_idx, k_noise = jax.random.split(key)
        idx = jax.random.randint(k_idx, (n, config.batch_size), 0, config.num_train)
        return idx, gradient_noise(k_noise, (n, config.dim), kind, scale, config.grad_noise_df)

    return sample


def diverged(threshold: float, state) -> jax.Array:
    """theta_k non-finite or ||theta_k||_inf > threshold."""
    theta = state.params
    return ~jnp.all(jnp.isfinite(theta)) | (jnp.max(jnp.abs(theta)) > threshold)


def power_run(config, method: str, kind: str, data: pr.RegressionData, theta0, key, gamma, lr, scale):
    """One run of ``method`` at rate lr on f_gamma from theta0: metrics every ``record_every`` steps, divergence step."""
    opt = optim.optimizer(method, lr, **optimizer_options(config, method))

    def grad(theta, noise):
        idx, xi = noise
        g = pr.power_loss_grad(theta, data.a_train[idx], data.y_train[idx], gamma)
        return g if xi is None else g + xi

    def metrics(state):
        theta = state.params
        return {"test_loss": pr.power_loss(theta, data.a_test, data.y_test, gamma),
                "train_loss": pr.power_loss(theta, data.a_train, data.y_train, gamma),
                "distance": jnp.linalg.norm(theta - data.theta_true)}

    trace = runner.run(runner.optimizer_step(grad, opt), runner.optimizer_init(theta0, opt), config.num_steps,
                       metrics=metrics, record=runner.stride_grid(config.num_steps, config.record_every), key=key,
                       sample=sampler(config, kind, scale),
                       diverged=functools.partial(diverged, config.divergence_threshold))
    return trace.metrics, trace.diverged_at


def replicate(key: jax.Array, hp: dict, data: pr.RegressionData, *, config, noisy: bool):
    """One replicate at hp's (gamma, learning_rate, grad_noise_scale): theta_0 ~ U(0, init_high)^d, every method.

    The methods (different optimizer states) are a Python loop in the same trace. All
    runs of a replicate share theta_0 and the sampled indices (common random numbers),
    so methods, gammas, rates and noise scales are compared paired.
    """
    k_init, k_run = jax.random.split(key)
    theta0 = jax.random.uniform(k_init, (config.dim,), data.a_train.dtype, 0.0, config.init_high)
    kind = config.grad_noise if noisy else "none"
    runs = [power_run(config, method, kind, data, theta0, k_run, hp["gamma"], hp["learning_rate"],
                      hp["grad_noise_scale"]) for method in config.methods]
    curves = {name: jnp.stack([m[name] for m, _ in runs]) for name in CURVES}  # (M, R)
    return curves, jnp.stack([d for _, d in runs])  # (M,)


def least_squares_reference(data: pr.RegressionData, gammas) -> tuple[float, np.ndarray]:
    """||theta_LS - theta_true|| and the test loss f_gamma(theta_LS) per gamma (theta_LS by a solve)."""
    theta = pr.least_squares_solution(data.a_train, data.y_train)
    return (float(jnp.linalg.norm(theta - data.theta_true)),
            np.array([float(pr.power_loss(theta, data.a_test, data.y_test, g)) for g in gammas]))


# ----------------------------------------------------------------------------- summaries


def summarize(d: xr.Dataset) -> xr.Dataset:
    """Per cell: first divergence and count over replicates, mean and SE of every curve (NaN from the divergence on)."""
    first, count = divergence.first_over(d.diverged_at), divergence.count_over(d.diverged_at)
    s = xr.Dataset({"first": first, "count": count})
    valid = (first < 0) | (d.step < first)
    for name in CURVES:
        mean, se = tables.mean_se(d[name])
        s[f"{name}_mean"], s[f"{name}_se"] = mean.where(valid), se.where(valid)
    train = s.train_loss_mean.isel(step=-1).where(first < 0, np.inf)
    ok = np.isfinite(train).any("learning_rate")
    s["best"] = xr.where(ok, train.fillna(np.inf).argmin("learning_rate"), -1)  # least final training loss
    return s.transpose("method", "gamma", "learning_rate", "grad_noise_scale", ...)


def course_index(d: xr.Dataset, course_lr: float) -> int:
    """The position of the course's shared rate on the learning_rate axis (the nearest on a log scale)."""
    return int(np.argmin(np.abs(np.log(d.learning_rate.values) - np.log(course_lr))))


def cell(d: xr.Dataset, s: xr.Dataset, index: dict) -> dict:
    """Best-over-time and final test loss (mean, SE), final distance, or the divergence report of one cell."""
    first, count = int(s.first[index]), int(s["count"][index])
    if first >= 0:
        return {"diverged": divergence.summary(d.diverged_at[index].values, runs="replicates"),
                "diverged_at_step": first, "diverged_replicates": count}
    mean, se = s.test_loss_mean[index].values, s.test_loss_se[index].values
    best = int(np.argmin(mean))
    return {"best_test_loss": mean[best], "best_stderr": se[best], "best_at_step": int(d.step.values[best]),
            "final_test_loss": mean[-1], "final_stderr": se[-1],
            "final_distance": float(s.distance_mean[index][-1]), "final_distance_stderr": float(s.distance_se[index][-1])}


def course_table(d: xr.Dataset, s: xr.Dataset, course: int) -> dict:
    """{cell label: cell} at the course's shared learning rate."""
    return {name: cell(d, s, index | {"learning_rate": course}) for name, index in tables.cells(s, CELL)}


def sweep_table(d: xr.Dataset, s: xr.Dataset) -> dict:
    """{cell label: the best rate, its cell, and the final test loss (or divergence) at every rate}."""
    table, rates = {}, d.learning_rate.values
    for name, index in tables.cells(s, CELL):
        per_lr = {}
        for k, lr in enumerate(rates):
            c = cell(d, s, index | {"learning_rate": k})
            per_lr[f"learning_rate={lr:g}"] = c["diverged"] if "diverged" in c else c["final_test_loss"]
        b = int(s.best[index])
        entry = {"best_lr": None if b < 0 else float(rates[b]), "at_grid_edge": b in (0, len(rates) - 1),
                 "final_test_loss_per_lr": per_lr}
        table[name] = entry | ({} if b < 0 else cell(d, s, index | {"learning_rate": b}))
    return table


def winners(d: xr.Dataset, s: xr.Dataset, num_stderr: float) -> dict:
    """Per (noise scale, gamma): the method with the least final mean test loss at its own best rate.

    ``clear`` says whether it beats the runner-up by more than ``num_stderr`` standard
    errors of the paired (same replicate) difference of final test losses.
    """
    out, methods = {}, list(d.method.values)
    final = d.test_loss.isel(step=-1)
    for name, index in tables.cells(s, ("grad_noise_scale", "gamma")):
        best = {i: int(s.best[index | {"method": i}]) for i in range(len(methods))}
        ok = [i for i, b in best.items() if b >= 0]
        if not ok:
            out[name] = {"method": None, "note": "every method diverged at every rate"}
            continue
        losses = {i: final[index | {"method": i, "learning_rate": best[i]}].transpose("seed").values for i in ok}
        order = sorted(ok, key=lambda i: losses[i].mean())
        entry = {"method": methods[order[0]], "lr": float(d.learning_rate.values[best[order[0]]]),
                 "final_test_loss": losses[order[0]].mean()}
        if len(order) > 1:
            diff, se = mean_and_standard_error(losses[order[1]] - losses[order[0]])
            entry |= {"runner_up": methods[order[1]], "margin": float(diff), "margin_stderr": float(se),
                      "clear": bool(diff > num_stderr * se)}
        out[name] = entry
    return out


# ----------------------------------------------------------------------------- printed tables


def _fmt(c: dict, which: str = "best") -> str:
    """'mean +- SE' of the best-over-time (or final) test loss, or 'diverged@k (r reps)'."""
    if "diverged" in c:
        return f"diverged@{c['diverged_at_step']} ({c['diverged_replicates']} reps)"
    return f"{c[f'{which}_test_loss']:.3g} +- {c[f'{which}_stderr']:.1g}"


def _fmt_rate(c: dict) -> str:
    """'lr: final mean +- SE' at the best rate ('*' if the rate is at the edge of the grid)."""
    if c["best_lr"] is None:
        return "all diverged"
    return f"{c['best_lr']:g}{'*' if c['at_grid_edge'] else ''}: {_fmt(c, 'final')}"


def format_tables(s: xr.Dataset, metrics: dict, seeds: int, num_stderr: float) -> list[str]:
    """Per noise scale: the best-values table, the per-method best rates and the winners, as text lines."""
    width, lines = 25, []
    head = "method   " + "".join(f"{'gamma=%g' % g:{width}s}" for g in s.gamma.values)
    for n, scale in enumerate(s.grad_noise_scale.values):
        noise = f", gradient noise scale {scale:g}" if s.sizes["grad_noise_scale"] > 1 else ""
        rows = {m: [tables.label(s, {"grad_noise_scale": n, "method": i, "gamma": j}) for j in range(s.sizes["gamma"])]
                for i, m in enumerate(s.method.values)}
        lines += [f"R1 best mean test loss over steps (+- 1 SE, {seeds} replicates), shared lr "
                  f"{metrics['course_learning_rate']:g}{noise}:", head]
        lines += [f"{m:9s}" + "".join(f"{_fmt(metrics['course_table'][k]):{width}s}" for k in ks)
                  for m, ks in rows.items()]
        lines += [f"R1 best lr per method (least final training loss; * = grid edge){noise}: final test loss +- 1 SE",
                  head]
        lines += [f"{m:9s}" + "".join(f"{_fmt_rate(metrics['lr_sweep'][k]):{width}s}" for k in ks)
                  for m, ks in rows.items()]
        wins = [(g, metrics["winners"][tables.label(s, {"grad_noise_scale": n, "gamma": j})])
                for j, g in enumerate(s.gamma.values)]
        lines.append(f"R1 winner at its own best lr (final test loss; 'not clear' = margin < {num_stderr:g} paired SE)"
                     f"{noise}: " + "; ".join(f"gamma={g:g}: {w['method']}{'' if w.get('clear', True) else ' (not clear)'}"
                                             for g, w in wins))
    return lines

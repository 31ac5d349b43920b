# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # F. Flat versus sharp minima: SGD escapes where GD stays
#
# $f(x) = \frac1N \sum_i f_i(x)$ with $N = 2000$ terms
# $f_i(x) = b(x) + 20 \sin(10 x + p_i) \cos(2 (x - 5))$, random phases $p_i$, and a base $b$
# with a wide basin around 0 (curvature 2) and a narrow one around 5 (curvature 200)
# (`jaxopt_course.problems.finite_sum_1d`). GD and SGD start in the sharp minimum $x_0 = 5$.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from jaxopt_course import optim, plotting, run
from jaxopt_course.problems import finite_sum_1d as fs

phases = fs.sample_phases(jax.random.key(0))          # p_i = 2 pi U(0, 1), i < 2000
grid = jnp.linspace(-2.0, 7.0, 901)
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(grid, jax.vmap(fs.loss, (0, None))(grid, phases))
ax.set(xlabel="x", ylabel="f(x)", title="the finite sum: flat basin at 0, sharp one at 5");

# %% [markdown]
# ## GD and SGD from $x_0 = 5$, step 0.001, 2000 iterations
# SGD uses the gradient of one uniformly drawn term per step; `run.sweep` runs 64 seeds in one call.

# %%
num_steps = 2000
record = run.stride_grid(num_steps, 10)
x_metric = lambda s: {"x": s.params}


def gd(step):
    opt = optim.gd(step)
    return run.run(run.optimizer_step(lambda x, _: fs.grad(x, phases), opt),
                   run.optimizer_init(jnp.asarray(5.0), opt), num_steps, metrics=x_metric, record=record)


def sgd_one_seed(key, hp):
    opt = optim.sgd(hp["step"])
    sample = lambda k, n: jax.random.randint(k, (n,), 0, fs.NUM_TERMS)
    return run.run(run.optimizer_step(lambda x, i: fs.term_grad(x, phases[i]), opt),
                   run.optimizer_init(jnp.asarray(5.0), opt), num_steps, key=key, sample=sample,
                   metrics=x_metric, record=record)


gd_trace = jax.jit(gd)(1e-3)
sgd = run.sweep(sgd_one_seed, run.seed_keys(0, 64), axes={"step": [1e-3]})
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(record, gd_trace.metrics["x"], "k", lw=2, label="GD")
for s in range(4):
    ax.plot(record, sgd.metrics["x"][0, s], lw=0.8, label=f"SGD, seed {s}")
plotting.band(ax, record, sgd.metrics["x"][0], label="SGD: median, 10-90% of 64 seeds", color="C7")
ax.set(xlabel="iteration k", ylabel="$x_k$", title="GD stays at the sharp minimum, SGD leaves it")
ax.legend(fontsize=7);

# %% [markdown]
# ## The escape probability as a function of the step size
# Five step sizes x 256 seeds in one vmapped call; an escape is ending in the flat basin
# ($x_T < 50/11$). Wilson 95% intervals from `scipy.stats.binomtest`.

# %%
steps = np.logspace(-4, -2, 5)
sweep = run.sweep(sgd_one_seed, run.seed_keys(1, 256), axes={"step": steps})
final = np.asarray(sweep.metrics["x"][:, :, -1])                      # (steps, seeds)
escaped = ((final < fs.LEFT_BREAK) & (np.asarray(sweep.diverged_at) < 0)).sum(axis=1)
cis = [stats.binomtest(int(k), final.shape[1]).proportion_ci(0.95, method="wilson") for k in escaped]
p = escaped / final.shape[1]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.errorbar(steps, p, yerr=[p - [c.low for c in cis], [c.high for c in cis] - p], fmt="o-", capsize=3,
            label="P(x_T in the flat basin), 256 seeds")
ax.set(xscale="log", xlabel="step size γ", ylabel="escape probability", ylim=(-0.05, 1.05),
       title="SGD escapes the sharp minimum for larger steps")
ax.legend(fontsize=8);
dict(zip(np.round(steps, 5), p))

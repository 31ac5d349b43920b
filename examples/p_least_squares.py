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
# # P. Polynomial least squares: GD and SGD on the course's 7 points
#
# The problem: $N = 7$ points $x_i$ evenly spaced in $[-1, 1]$, $y_i = \sin(5 x_i)\, e^{|2 x_i|} / 10$,
# features $\phi(x) = [1, x, \dots, x^n]$ and $f(\theta) = \frac1N \|X\theta - y\|^2$.
# We build it with `jaxopt_course.problems.least_squares`, compute its smoothness
# $\beta = \frac2N \|X^\top X\|_2$ and its minimum-norm solution, then run SGD with
# a uniformly sampled index over many seeds and two step sizes in **one** vmapped call.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import optim, run
from jaxopt_course.problems import least_squares as ls

xs, ys = ls.course_data()
X = ls.features(xs, 9)                 # n = 9: 10 parameters, 7 points (over-parameterized)
beta = float(ls.smoothness(X))          # the spectral norm, not the Frobenius norm
theta_star = ls.min_norm_solution(X, ys)
print(f"beta = {beta:.4f}, Frobenius bound = {float(ls.frobenius_smoothness(X)):.4f}")
print("f(theta*) =", float(ls.loss(theta_star, X, ys)))   # an interpolant: 0 up to rounding

# %% [markdown]
# ## Gradient descent with step $1/\beta$
# `run.run` iterates a step inside one `lax.scan` and records metrics on a log grid only.

# %%
opt = optim.gd(1.0 / beta)
state = run.optimizer_init(jnp.zeros(10), opt, average=True)
gd_step = run.optimizer_step(lambda theta, _: ls.grad(theta, X, ys), opt)
gap = lambda s: {"gap": ls.suboptimality(s.params, X, theta_star),
                 "gap_avg": ls.suboptimality(s.average.mean, X, theta_star)}
num_steps = 20_000
gd_trace = run.run(gd_step, state, num_steps, metrics=gap, record=run.log_grid(num_steps, 60))

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.loglog(np.maximum(gd_trace.steps, 1), gd_trace.metrics["gap"], label=r"$f(\theta_k) - f^*$")
ax.loglog(np.maximum(gd_trace.steps, 1), gd_trace.metrics["gap_avg"], label=r"$f(\bar\theta_k) - f^*$")
ax.set(xlabel="iteration k", ylabel="suboptimality", title="GD, n = 9, step 1/β")
ax.legend();

# %% [markdown]
# ## SGD over seeds and step sizes
# `one_seed(key, hp)` is one SGD run; `run.sweep` vmaps it over the seeds and the named
# axis `lr` (every step size sees the same seeds) and returns arrays of shape
# `(num_lrs, num_seeds, num_records)`.

# %%
def one_seed(key, hp):
    opt = optim.sgd(optim.staircase(hp["lr"], 1000))
    state = run.optimizer_init(jnp.zeros(10), opt, average=True)
    step = run.optimizer_step(lambda theta, i: ls.grad_i(theta, X, ys, i), opt)
    return run.run(step, state, num_steps, key=key, sample=lambda k, n: ls.sample_indices(k, n, 7),
                   metrics=gap, record=run.log_grid(num_steps, 60))


scales = [0.05, 0.1]
trace = run.sweep(one_seed, run.seed_keys(0, 64), axes={"lr": [c / beta for c in scales]})
print(trace.metrics["gap"].shape, "diverged runs:", int((trace.diverged_at >= 0).sum()))

# %%
steps = np.maximum(np.asarray(trace.steps[0, 0]), 1)
fig, ax = plt.subplots(figsize=(5, 3.5))
for a, c in enumerate(scales):
    g = np.asarray(trace.metrics["gap"][a])           # (seeds, records)
    lo, med, hi = np.percentile(g, [10, 50, 90], axis=0)
    ax.plot(steps, med, label=f"c = {c}: median over 64 seeds")
    ax.fill_between(steps, lo, hi, alpha=0.25)
ax.set(xscale="log", yscale="log", xlabel="iteration k", ylabel=r"$f(\theta_k) - f^*$",
       title="SGD, staircase step c/(β(⌊k/1000⌋+1)), 10-90% bands")
ax.legend();

# %% [markdown]
# ## The same experiment from the catalogue
# Every catalogue entry has a `Config` (its `quick()` is a real but smaller run) and a
# `run(config, key)` returning labelled results (an `xarray.Dataset`), read by coordinate.

# %%
from jaxopt_course.experiments.least_squares import p3_sgd

config = p3_sgd.Config(degrees=(9,), schedules=("staircase",), seeds=8, steps_per_point=500, num_records=40)
results = p3_sgd.run(config, jax.random.key(0))
results.data.gap.sel(degree=9, schedule="staircase").median("seed").isel(step=-1).item()

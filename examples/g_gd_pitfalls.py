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
# # G. What gradient descent can get wrong
#
# Two of the course's small examples with `jaxopt_course.problems.toy_functions`:
# the quadratic risk $R(w) = 13 w_1^2 - 10 w_1 w_2 + 4 w_1 + 2 w_2^2 - 2 w_2 + 1$ (minimizer
# $(1, 3)$), where GD diverges beyond the critical step $2/\lambda_{\max}$, and the double
# well $x^4 - 4x^2$, where one step lands exactly on the local maximum.

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import optim, run
from jaxopt_course.problems import toy_functions as toy

H = toy.quadratic_risk_hessian()
w_star = jnp.asarray(toy.RISK_MINIMIZER)
print("lambda_max =", float(jnp.linalg.eigvalsh(H)[-1]), " critical step 2/lambda_max =", float(toy.critical_step(H)))

# %% [markdown]
# ## GD over a grid of step sizes, in one call
# No randomness here, so `run.grid` (a sweep without seeds) runs every step size at once.

# %%
num_steps = 500


def gd_run(hp):
    opt = optim.gd(hp["step"])
    return run.run(run.optimizer_step(lambda w, _: toy.quadratic_risk_grad(w), opt),
                   run.optimizer_init(jnp.zeros(2), opt), num_steps,
                   metrics=lambda s: {"dist": jnp.linalg.norm(s.params - w_star)},
                   record=run.stride_grid(num_steps, 5))


steps = [0.02, 0.05, 0.1, float(toy.critical_step(H)) * 1.02]
trace = run.grid(gd_run, {"step": steps})
fig, ax = plt.subplots(figsize=(5, 3.2))
labels = ["0.02", "0.05", "0.1", "1.02 × 2/λ_max"]
for a, label in enumerate(labels):
    ax.plot(trace.steps[a], trace.metrics["dist"][a], label=f"step {label}")
ax.set(yscale="log", xlabel="iteration k", ylabel=r"$\|w_k - w^*\|$", title="GD on R(w): the critical step")
ax.legend(fontsize=8)
for step, label, k in zip(steps, labels, trace.diverged_at.tolist()):   # k: the runner's divergence check
    rho = float(toy.contraction_factor(step, H))
    outcome = "converges" if rho < 1 else "grows" if k < 0 else f"diverged at step {k} (non-finite iterate)"
    print(f"step {label}: contraction max|1 - step λ| = {rho:.4f}, {outcome}")

# %% [markdown]
# ## The double well: a step that lands on a maximum
# From $x_0 = \sqrt 3$ with step 0.25: $x_1 = x_0 - 0.25 (4 x_0^3 - 8 x_0) = \sqrt 3 - 0.25 \cdot 4\sqrt 3 = 0$,
# the local maximum, where the gradient vanishes. In float32, $x_1$ is $\sqrt 3$'s rounding error
# (about $10^{-7}$) rather than 0, and since $|1 - 0.25 f''(0)| = 3$ GD moves away from the
# maximum by a factor 3 per step (the catalogue's G4 shows float64 and float32).

# %%
opt = optim.gd(0.25)
well = run.run(run.optimizer_step(lambda x, _: toy.double_well_grad(x), opt),
               run.optimizer_init(jnp.sqrt(3.0), opt), 5, metrics=lambda s: {"x": s.params},
               record=run.stride_grid(5, 1))
xgrid = jnp.linspace(-2.2, 2.2, 200)
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(xgrid, toy.double_well(xgrid), label="$x^4 - 4x^2$")
ax.plot(well.metrics["x"], toy.double_well(well.metrics["x"]), "ro-", label="GD iterates, step 0.25")
ax.set(xlabel="x", ylabel="f(x)", title="GD from √3 lands on the local maximum 0")
ax.legend(fontsize=8)
np.asarray(well.metrics["x"])

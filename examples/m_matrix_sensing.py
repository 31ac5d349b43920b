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
# # M. Matrix sensing: small initialization as an implicit regularizer
#
# Recover $X^* = U^* U^{*\top}$ ($d \times d$, rank $r$) from $m$ Gaussian measurements
# $y_i = \langle A_i, X^* \rangle$ by gradient descent on
# $f(U) = \frac1{2m} \sum_i (\langle A_i, U U^\top \rangle - y_i)^2$
# (`jaxopt_course.problems.matrix_sensing`). Here $d = 30$, $r = 2$ and $m = 300 < d(d+1)/2 = 465$,
# so with $R = d$ columns the problem has many global minima: which one GD finds depends on $U_0$.

# %%
import functools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import run
from jaxopt_course.problems import matrix_sensing as ms

d, r, m = 30, 2, 300
problem = ms.make_problem(jax.random.key(0), d, r, m)
W = ms.init_factor(jax.random.key(1), d, d, 1.0)       # one shared W: U_0 = alpha W
print("||X*||_F =", float(jnp.linalg.norm(problem.x_star)), " singular values of U*:",
      np.round(np.linalg.svd(np.asarray(problem.u_star), compute_uv=False), 3))

# %% [markdown]
# ## Over-parameterized GD ($R = d$) from $U_0 = \alpha W$, four alphas in one call
# The step size is $\eta = c / (\mathrm{rms}(y) + \|U_0\|_2^2)$ (`ms.step_size`). `run.grid`
# vmaps the run over the named axis `alpha`; the problem's arrays are passed as arguments,
# shared by every alpha.

# %%
num_steps = 600


def gd_from(hp, W, problem):
    U0 = hp["alpha"] * W
    metrics = lambda U: {"error": ms.relative_distance(U, problem.x_star), "sv": ms.top_singular_values(U, 5)}
    return run.run(ms.gd_step(problem, ms.step_size(problem.y, U0)), U0, num_steps, metrics=metrics,
                   record=run.log_grid(num_steps, 40))


alphas = [1.0, 1e-1, 1e-2, 1e-3]
trace = run.grid(gd_from, {"alpha": alphas}, W, problem)
print("final relative errors:", dict(zip(alphas, np.round(np.asarray(trace.metrics["error"][:, -1]), 4))))

# %%
steps = np.maximum(np.asarray(trace.steps[0]), 1)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for a, alpha in enumerate(alphas):
    axes[0].plot(steps, trace.metrics["error"][a], label=f"α = {alpha:g}")
axes[0].set(xscale="log", yscale="log", xlabel="GD step t", ylabel=r"$\|U_tU_t^\top - X^*\|_F / \|X^*\|_F$",
            title="R = d: a small start recovers X*")
axes[0].legend(fontsize=8)
for j in range(5):
    axes[1].plot(steps, trace.metrics["sv"][-1, :, j], label=f"σ_{j + 1}(U_t)")
axes[1].set(xscale="log", yscale="log", xlabel="GD step t", ylabel="singular value",
            title=f"α = {alphas[-1]:g}: {r} directions grow, the rest stay small")
axes[1].legend(fontsize=8);

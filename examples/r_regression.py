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
# # R. Regression with stochastic methods: power losses
#
# Linear data $y_i = a_i \cdot \theta_{\rm true} + 0.1 z_i$, $a_i \sim U(-1, 1)^{10}$, $\theta_{\rm true} = 1$
# (`jaxopt_course.problems.power_regression`), fitted by minimizing
# $\frac1N \sum_i |a_i \cdot \theta - y_i|^\gamma$ with SGD, Adam and Adagrad (batch 1),
# each over replicates and a grid of learning rates; test loss mean $\pm$ 2.5 standard errors.

# %%
import functools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import optim, plotting, run
from jaxopt_course.problems import power_regression as pr

data = pr.make_data(jax.random.key(0))
theta_ls = pr.least_squares_solution(data.a_train, data.y_train)
print("least squares: test MSE =", float(pr.power_loss(theta_ls, data.a_test, data.y_test, 2.0)))

# %%
num_steps = 1000


def one_replicate(key, hp, name):
    k_init, k_run = jax.random.split(key)
    opt = optim.optimizer(name, hp["lr"])
    theta0 = jax.random.uniform(k_init, (10,), minval=0.0, maxval=0.1)
    grad = lambda theta, i: pr.power_loss_grad(theta, data.a_train[i][None], data.y_train[i][None], hp["gamma"])
    sample = lambda k, n: jax.random.randint(k, (n,), 0, data.a_train.shape[0])
    test_loss = lambda s: {"test": pr.power_loss(s.params, data.a_test, data.y_test, 2.0)}
    return run.run(run.optimizer_step(grad, opt), run.optimizer_init(theta0, opt), num_steps, key=key,
                   sample=sample, metrics=test_loss, record=run.stride_grid(num_steps, 50))


hps = {"gamma": [1.0, 2.0], "lr": [1e-3, 1e-2, 1e-1]}    # two named axes: every (gamma, lr) pair
keys = run.seed_keys(0, 20)
results = {name: run.sweep(functools.partial(one_replicate, name=name), keys, axes=hps)
           for name in ("sgd", "adam", "adagrad")}
results["adam"].metrics["test"].shape                     # (gammas, lrs, replicates, records)

# %% [markdown]
# Each method at its best learning rate (lowest mean final test MSE), per $\gamma$:

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for g, (ax, gamma) in enumerate(zip(axes, hps["gamma"])):
    for name in ("sgd", "adam", "adagrad"):
        test = np.asarray(results[name].metrics["test"][g])          # (lrs, replicates, records)
        best = int(np.argmin(test[:, :, -1].mean(axis=1)))
        plotting.band(ax, results[name].steps[g, best, 0], test[best], se=2.5,
                      label=f"{optim.OPTIMIZER_LABELS[name]}, lr {hps['lr'][best]:g}")
    ax.axhline(float(pr.power_loss(theta_ls, data.a_test, data.y_test, 2.0)), color="k", ls=":", label="least squares")
    ax.set(yscale="log", xlabel="step", ylabel="test MSE", title=f"loss |e|^γ, γ = {gamma:g}: mean ± 2.5 SE, 20 runs")
    ax.legend(fontsize=7);

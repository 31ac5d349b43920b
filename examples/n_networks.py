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
# # N. Neural networks on the 7 points: one vmapped call trains many initializations
#
# A Flax MLP 1-10-10-1 (`jaxopt_course.models.mlp`) fitted by full-batch gradient
# descent on the course's 7 points, with held-out points $x_i + \mathcal N(0, 0.3^2)$.
# `models.training.train` runs the epochs inside one `lax.scan`; `run.sweep` vmaps it
# over random initializations (the seeds) and learning rates.

# %%
import functools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import optim, plotting, run
from jaxopt_course.models import mlp, training
from jaxopt_course.problems import least_squares as ls

xs, ys = ls.course_data()
x_test = xs + 0.3 * jax.random.normal(jax.random.key(1), xs.shape)
data = training.Dataset(xs[:, None], ys[:, None], x_test[:, None], ls.target_function(x_test)[:, None])
model = mlp.MLP(widths=(10, 10), activation="relu")
print(mlp.architecture(1, model.widths), "with", mlp.param_count(1, model.widths), "parameters")

# %%
num_epochs = 1000


def one_init(key, hp, optimizer_name):
    params = mlp.init_params(model, key)
    opt = optim.optimizer(optimizer_name, hp["lr"])
    return training.train(functools.partial(mlp.apply, model), params, opt, data, num_epochs,
                          record=run.log_grid(num_epochs, 40))


lrs = [0.02, 0.05, 0.1]
sgd = run.sweep(functools.partial(one_init, optimizer_name="sgd"), run.seed_keys(0, 16), axes={"lr": lrs})
print(sgd.metrics["train_loss"].shape, "(learning rates, initializations, records)")

# %%
epochs = np.maximum(np.asarray(sgd.steps[0, 0]), 1)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for a, lr in enumerate(lrs):
    plotting.band(axes[0], epochs, sgd.metrics["train_loss"][a], label=f"lr = {lr}", log=True)
axes[0].set(xscale="log", yscale="log", xlabel="epoch", ylabel="training MSE",
            title="GD, 16 initializations: geometric median, 10-90%")
axes[0].legend(fontsize=8)
grid = jnp.linspace(-1.1, 1.1, 200)[:, None]
best = int(np.argmin(sgd.metrics["train_loss"][-1, :, -1]))
params = jax.tree.map(lambda leaf: leaf[-1, best], sgd.state.params)
axes[1].plot(grid[:, 0], mlp.apply(model, params, grid)[:, 0], label="fitted net (lr 0.1, best init)")
axes[1].plot(xs, ys, "ko", label="training points")
axes[1].set(xlabel="x", ylabel="y", title="the fit on [-1.1, 1.1]")
axes[1].legend(fontsize=8);

# %% [markdown]
# ## SGD versus Adam from the same initializations
# The same keys give the same initial points; `optim.optimizer(name, lr)` looks an optimizer up by name.
# With 141 parameters and 7 points the nets interpolate: the held-out loss rises while the
# training loss goes to 0, faster with Adam.

# %%
adam = run.sweep(functools.partial(one_init, optimizer_name="adam"), run.seed_keys(0, 16), axes={"lr": [0.01]})
fig, ax = plt.subplots(figsize=(5, 3.2))
plotting.band(ax, epochs, sgd.metrics["test_loss"][1], label="GD, lr 0.05", log=True)
plotting.band(ax, epochs, adam.metrics["test_loss"][0], label="Adam, lr 0.01", log=True)
ax.set(xscale="log", yscale="log", xlabel="epoch", ylabel="held-out MSE", title="test loss, 16 initializations")
ax.legend(fontsize=8);

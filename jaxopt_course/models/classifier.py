"""MLP classifiers log p(y | x) = log_softmax(W_L a(... a(W_1 x))) in flax.linen.

The course's C1 network is 784-128-128-128-10 with ReLU and no biases, C2 is
784-128-64-10. Layers are named ``layer_0 .. layer_{L-1}`` (input to output), so
"layer l" means the same thing in the parameters, the gradients and the figures.

Initialization. ``initializer="uniform"`` (default) is PyTorch's ``nn.Linear`` rule,
W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (variance 1/(3 fan_in)), because the
course's notebooks are PyTorch; ``initializer="he"`` is He et al.'s W ~ N(0, 2/fan_in)
(truncated), b = 0, which keeps ReLU signals at constant scale through depth.
"""

from __future__ import annotations

import math
from typing import Callable, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)
INITS = ("uniform", "he")


def select_activation(index: jax.Array, x: jax.Array) -> jax.Array:
    """a_i(x) for i an index into ACTIVATION_NAMES (a traced index can be vmapped over)."""
    return jax.lax.switch(index, list(ACTIVATIONS.values()), x)


def _uniform_fan_in(fan_in: int):
    """Initializer U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's nn.Linear bias rule)."""
    bound = float(fan_in) ** -0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


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
        """Layer ``index`` with this model's initialization."""
        if self.initializer == "uniform":
            kernel_init, bias_init = _uniform_fan_in(fan_in), _uniform_fan_in(fan_in)
        else:
            kernel_init, bias_init = nn.initializers.he_normal(), nn.initializers.zeros_init()
        return nn.Dense(width, use_bias=self.use_bias, kernel_init=kernel_init, bias_init=bias_init,
                        name=f"layer_{index}")

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation] if isinstance(self.activation, str) else self.activation
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

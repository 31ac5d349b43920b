"""Multilayer perceptrons f(x; theta) = W_L a(... a(W_1 x + b_1) ...) + b_L in flax.linen.

Why flax.linen rather than flax.nnx. The course's experiments train *many*
networks at once: a whole training run is a pure function of an initialization
key, vmapped over keys and run inside one ``lax.scan``. A linen module is a frozen,
hashable description of the architecture; ``model.init(key, x)`` returns the
parameters as a plain pytree and ``model.apply({"params": theta}, x)`` is already a
pure function of that pytree, so ``jax.grad``, ``jax.vmap`` over init keys,
``jax.jvp`` for Hessian-vector products and our optax-style optimizers all act on
it directly, and the module itself can sit in a hashable config (the runner's
``sweep`` caches compiled programs by function). An nnx module is a mutable Python
object holding its own state: the same purity needs ``nnx.split``/``nnx.merge``
around every transformed call, and stepping an ``nnx.jit`` function from a Python
loop was measured at about 0.65 ms per step (slower than PyTorch eager). With
linen there is nothing to split: the parameter pytree *is* the state.

Initialization. ``initializer="uniform"`` (the default) is PyTorch's ``nn.Linear`` rule,
W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), because the course's notebooks are
PyTorch and the initial point is the subject of N3 (with flax's default zero biases
every ReLU kink of a 1-D network starts at x = 0). ``initializer="lecun"`` is flax's
default: W ~ N(0, 1/fan_in) (truncated), b = 0.

Products. ``matmul="dot"`` (default) computes each layer's x W with one XLA dot;
``matmul="broadcast"`` computes it as sum_k x[:, k, None] W[k, :], a multiply fused
into a reduction. The course's nets are tiny (1-10-10-1: 7 points, kernels of at most
100 entries), so on a CPU a dot's per-call cost dominates its arithmetic: training
100 initializations of 1-10-10-1 for 2000 epochs (vmapped, ``lax.scan``) took 0.25 s
with dots and 0.10 s with broadcast products. The broadcast form is fast only when
XLA:CPU keeps reductions out of its YNNPACK fusions, as the N experiments ask
through ``run.sweep(..., compiler_options=run.small_reductions_options())``; under
XLA's default options it is 5x *slower*, which is why it is not the default.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

Activation = Union[str, Callable[[jax.Array], jax.Array]]
INITS = ("uniform", "lecun")
MATMULS = ("dot", "broadcast")


def four_sigmoid(x: jax.Array) -> jax.Array:
    """a(x) = 4 sigma(x) = 4 / (1 + exp(-x))."""
    return 4.0 * jax.nn.sigmoid(x)


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "4sigmoid": four_sigmoid,
    "tanh": jnp.tanh,
}
ACTIVATION_LABELS = {"relu": "ReLU", "sigmoid": "sigmoid", "4sigmoid": "4·sigmoid", "tanh": "tanh"}


def activation_fn(activation: Activation) -> Callable[[jax.Array], jax.Array]:
    """The activation function named by ``activation`` (or ``activation`` itself if callable)."""
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)} or a callable") from None


def _check_widths(widths) -> tuple:
    """Hidden widths as a tuple of positive ints (ValueError otherwise)."""
    try:
        widths = tuple(widths)
    except TypeError:
        raise ValueError(f"widths must be a sequence of positive integers, got {widths!r}") from None
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(f"widths must be positive integers, got {widths!r}")
    return tuple(int(w) for w in widths)


def broadcast_dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers, precision=None,
                          preferred_element_type=None) -> jax.Array:
    """(x W)_{..., j} = sum_k x_{..., k} W_{k, j} as a fused multiply-reduce (``nn.Dense``'s contraction only).

    A drop-in for ``lax.dot_general`` in ``nn.Dense(dot_general=...)``: any other
    contraction, and ``precision`` / ``preferred_element_type`` requests, go to
    ``lax.dot_general`` unchanged. Products and sums are in the inputs' dtype.
    """
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    dense = (tuple(lhs_contract) == (lhs.ndim - 1,) and tuple(rhs_contract) == (0,) and rhs.ndim == 2
             and not lhs_batch and not rhs_batch and precision is None and preferred_element_type is None)
    if not dense:
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                                   preferred_element_type=preferred_element_type)
    dtype = jnp.result_type(lhs, rhs)
    rhs = rhs.astype(dtype).reshape((1,) * (lhs.ndim - 1) + rhs.shape)  # explicit broadcast (no rank promotion)
    return jnp.sum(lhs.astype(dtype)[..., :, None] * rhs, axis=-2)


def _uniform(bound: float) -> Callable:
    """Initializer drawing every entry from U(-bound, bound) (drawn in float32, then cast)."""

    def init(key, shape, dtype=jnp.float32):
        # Drawn in float32 whatever the dtype, so that a key gives the same theta_0 with and
        # without x64 (a float64 draw would use other bits of the same key).
        return jax.random.uniform(key, shape, jnp.float32, -bound, bound).astype(dtype)

    return init


LAYER_INITS = ("uniform", "lecun", "he")  # the rules ``layer_initializers`` knows (MLP uses INITS)


def layer_initializers(initializer: str, fan_in: int) -> tuple[Callable, Callable]:
    """(kernel_init, bias_init): 'uniform' W, b ~ U(+-1/sqrt(fan_in)); 'lecun' / 'he' W ~ N(0, 1 or 2/fan_in), b = 0."""
    if initializer == "uniform":
        init = _uniform(1.0 / np.sqrt(fan_in))
        return init, init
    if initializer == "lecun":
        return nn.initializers.lecun_normal(), nn.initializers.zeros
    if initializer == "he":
        return nn.initializers.he_normal(), nn.initializers.zeros
    raise ValueError(f"initializer must be one of {', '.join(LAYER_INITS)}, got {initializer!r}")


def dense_layer(features: int, fan_in: int, *, initializer: str, use_bias: bool, dtype, matmul: str = "dot",
                name: str) -> nn.Dense:
    """One affine layer z = x W + b, parameters and products in ``dtype``, initialized by ``initializer``."""
    kernel_init, bias_init = layer_initializers(initializer, fan_in)
    dot_general = broadcast_dot_general if matmul == "broadcast" else None
    return nn.Dense(features, use_bias=use_bias, kernel_init=kernel_init, bias_init=bias_init,
                    param_dtype=dtype, dtype=dtype, dot_general=dot_general, name=name)


class MLP(nn.Module):
    """x -> W_L a(... a(W_1 x + b_1) ...) + b_L: ``len(widths)`` hidden layers, then a linear output.

    Attributes:
      widths: hidden-layer widths (``()`` gives a linear model).
      out_features: output dimension.
      activation: 'relu', 'sigmoid', '4sigmoid', 'tanh' or any callable.
      use_bias: whether every layer has a bias b_l.
      initializer: 'uniform' (PyTorch's nn.Linear) or 'lecun' (flax's default).
      param_dtype: dtype of the parameters (default: float32, or float64 under x64).
      matmul: 'dot' (XLA dots) or 'broadcast' (``broadcast_dot_general``; see the module docstring).
    """

    widths: tuple = (10, 10)
    out_features: int = 1
    activation: Activation = "relu"
    use_bias: bool = True
    initializer: str = "uniform"
    param_dtype: Any = None
    matmul: str = "dot"

    def __post_init__(self):
        object.__setattr__(self, "widths", _check_widths(self.widths))
        if isinstance(self.out_features, bool) or int(self.out_features) != self.out_features or self.out_features < 1:
            raise ValueError(f"out_features must be a positive integer, got {self.out_features!r}")
        activation_fn(self.activation)
        if self.initializer not in INITS:
            raise ValueError(f"initializer must be one of {INITS}, got {self.initializer!r}")
        if self.matmul not in MATMULS:
            raise ValueError(f"matmul must be one of {MATMULS}, got {self.matmul!r}")
        super().__post_init__()

    def _dense(self, features: int, fan_in: int, name: str) -> nn.Dense:
        """One affine layer z = x W + b with this model's initialization rule."""
        dtype = jnp.result_type(float) if self.param_dtype is None else self.param_dtype
        return dense_layer(features, fan_in, initializer=self.initializer, use_bias=self.use_bias, dtype=dtype,
                           matmul=self.matmul, name=name)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """f(x; theta) for a batch x of shape (B, d_in): returns (B, out_features)."""
        if x.ndim != 2:
            raise ValueError(f"inputs must have shape (batch, features), got {x.shape}")
        act = activation_fn(self.activation)
        for i, width in enumerate(self.widths):
            x = act(self._dense(width, x.shape[-1], f"hidden_{i}")(x))
        return self._dense(self.out_features, x.shape[-1], "output")(x)


def init_params(model: MLP, key: jax.Array, in_features: int = 1):
    """theta_0: the model's parameter pytree drawn with ``key`` (layer name -> {'kernel', 'bias'}).

    With the 'uniform' rule all n parameters come from one draw u ~ U(-1, 1)^n (in
    float32), each layer's slice scaled by 1/sqrt(fan_in). Under ``vmap`` over keys
    this compiles about 6x faster than ``model.init``, whose per-parameter key folding
    puts a threefry hash per leaf into every program (measured 0.4 s vs 2.4 s for the
    1-10-10-1 net); ``model.init`` draws from the same distribution, another stream.
    """
    if isinstance(in_features, bool) or int(in_features) != in_features or in_features < 1:
        raise ValueError(f"in_features must be a positive integer, got {in_features!r}")
    dtype = jnp.result_type(float) if model.param_dtype is None else model.param_dtype
    x = jnp.zeros((1, int(in_features)), dtype)
    if model.initializer != "uniform":
        return model.init(key, x)["params"]
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), x)["params"])
    zeros, unravel = ravel_pytree(jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), shapes))
    u = unravel(jax.random.uniform(key, zeros.shape, jnp.float32, -1.0, 1.0))
    # Scaled in float32, then cast: a key gives the same theta_0 with and without x64.
    return {name: jax.tree.map(lambda w, b=np.float32(1.0 / np.sqrt(layer["kernel"].shape[0])): (w * b).astype(dtype),
                               layer)
            for name, layer in u.items()}


def apply(model: MLP, params, x: jax.Array) -> jax.Array:
    """f(x; theta) for x of shape (B, d_in): a pure function of the parameter pytree."""
    return model.apply({"params": params}, x)


def predict_scalar(model: MLP, params, x: jax.Array) -> jax.Array:
    """f(x_i; theta) for 1-D inputs x of shape (N,) and a scalar output: shape (N,)."""
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    return apply(model, params, x[:, None])[:, 0]


def num_params(params) -> int:
    """Number of scalar parameters: sum of the sizes of the pytree's leaves."""
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


def param_count(in_features: int, widths, out_features: int = 1, use_bias: bool = True) -> int:
    """sum_l (d_{l-1} d_l + d_l [bias]) over the layers d_0 = in, d_1..d_L-1 = widths, d_L = out."""
    sizes = (int(in_features),) + _check_widths(widths) + (int(out_features),)
    return sum(a * b + (b if use_bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))


def architecture(in_features: int, widths, out_features: int = 1) -> str:
    """The layer sizes as a name, e.g. '1-10-10-1'."""
    return "-".join(str(int(s)) for s in (in_features, *_check_widths(widths), out_features))


def hidden_widths(name: str) -> tuple:
    """The hidden widths of a name made by ``architecture``: '1-10-10-1' -> (10, 10)."""
    try:
        sizes = tuple(int(s) for s in str(name).split("-"))
    except ValueError:
        raise ValueError(f"an architecture is written d_in-w_1-...-d_out, got {name!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"an architecture is written d_in-w_1-...-d_out, got {name!r}")
    return _check_widths(sizes[1:-1])

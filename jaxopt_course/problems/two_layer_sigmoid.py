"""A two-layer network with scaled sigmoids, forward and backward by hand (SPEC G6).

Model, for an input x in R^2 and K hidden units:

    v1 = W1 x + b1          (K pre-activations)
    z1 = s_alpha(v1)        (K hidden outputs)
    v2 = w2 . z1 + b2       (one pre-activation)
    y_hat = s_alpha(v2)     (the output, in (0, 1))

with the scaled sigmoid s_alpha(v) = 1 / (1 + exp(-alpha v)), whose derivative is
s_alpha'(v) = alpha s_alpha(v) (1 - s_alpha(v)). The risk on a (mini)batch is the
mean squared error R = 1/(2n) sum_i (y_hat_i - y_i)^2, and the backward equations
(the chain rule, layer by layer, written out as in the course) are

    delta2 = (y_hat - y) s_alpha'(v2)              (one number per example)
    dR/dw2 = mean_i delta2_i z1_i,   dR/db2 = mean_i delta2_i
    delta1 = delta2 w2 * s_alpha'(v1)               (K numbers per example)
    dR/dW1 = mean_i delta1_i x_i^T,  dR/db1 = mean_i delta1_i

``tests/experiments/gd_pitfalls/test_g6_two_layer.py`` checks them against ``jax.grad`` of the same risk.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxopt_course.problems._checks import finite_inputs


class TwoLayerParams(NamedTuple):
    """Weights of the 2-K-1 network."""

    W1: jax.Array  # shape=(K, d): input-to-hidden weights.
    b1: jax.Array  # shape=(K,): hidden biases.
    w2: jax.Array  # shape=(K,): hidden-to-output weights.
    b2: jax.Array  # shape=(): output bias.


class Forward(NamedTuple):
    """The forward pass's intermediate values, kept for the backward pass."""

    v1: jax.Array  # shape=(n, K): hidden pre-activations.
    z1: jax.Array  # shape=(n, K): hidden outputs s_alpha(v1).
    v2: jax.Array  # shape=(n,): output pre-activations.
    y_hat: jax.Array  # shape=(n,): predictions s_alpha(v2).


@finite_inputs
def scaled_sigmoid(v: jax.Array, alpha) -> jax.Array:
    """s_alpha(v) = 1 / (1 + exp(-alpha v))."""
    return jax.nn.sigmoid(alpha * v)


@finite_inputs
def scaled_sigmoid_grad(v: jax.Array, alpha) -> jax.Array:
    """s_alpha'(v) = alpha s_alpha(v) (1 - s_alpha(v))."""
    s = scaled_sigmoid(v, alpha)
    return alpha * s * (1.0 - s)


def _check(params: TwoLayerParams, X: jax.Array, y: jax.Array | None = None) -> None:
    """Raise ValueError unless W1 is (K, d), b1 and w2 are (K,), b2 is (), X is (n, d), y is (n,)."""
    if params.W1.ndim != 2:
        raise ValueError(f"W1 must be (K, d), got shape {params.W1.shape}")
    K, d = params.W1.shape
    if params.b1.shape != (K,) or params.w2.shape != (K,) or jnp.shape(params.b2) != ():
        raise ValueError(f"b1 and w2 must be ({K},) and b2 a scalar, got {params.b1.shape}, "
                         f"{params.w2.shape}, {jnp.shape(params.b2)}")
    if X.ndim != 2 or X.shape[1] != d:
        raise ValueError(f"X must be (n, {d}), got shape {X.shape}")
    if y is not None and y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    if y is not None and X.shape[0] == 0:
        raise ValueError("empty data: the risk of 0 points is undefined")


@finite_inputs
def forward(params: TwoLayerParams, X: jax.Array, alpha) -> Forward:
    """v1 = X W1^T + b1, z1 = s(v1), v2 = z1 w2 + b2, y_hat = s(v2), for every row x of X."""
    _check(params, X)
    v1 = X @ params.W1.T + params.b1[None, :]
    z1 = scaled_sigmoid(v1, alpha)
    v2 = z1 @ params.w2 + params.b2
    return Forward(v1, z1, v2, scaled_sigmoid(v2, alpha))


@finite_inputs
def predict(params: TwoLayerParams, X: jax.Array, alpha) -> jax.Array:
    """y_hat(x) = s(w2 . s(W1 x + b1) + b2) for every row x of X."""
    return forward(params, X, alpha).y_hat


@finite_inputs
def risk(params: TwoLayerParams, X: jax.Array, y: jax.Array, alpha) -> jax.Array:
    """R = 1/(2n) sum_i (y_hat_i - y_i)^2."""
    _check(params, X, y)
    r = predict(params, X, alpha) - y
    return 0.5 * jnp.mean(r * r)


@finite_inputs
def backward(params: TwoLayerParams, X: jax.Array, y: jax.Array, alpha, cache: Forward) -> TwoLayerParams:
    """grad R by the backward equations: delta2 = (y_hat - y) s'(v2), delta1 = delta2 w2 * s'(v1), averaged."""
    _check(params, X, y)
    n = X.shape[0]
    delta2 = (cache.y_hat - y) * scaled_sigmoid_grad(cache.v2, alpha)
    delta1 = delta2[:, None] * params.w2[None, :] * scaled_sigmoid_grad(cache.v1, alpha)
    return TwoLayerParams(
        W1=delta1.T @ X / n, b1=jnp.mean(delta1, axis=0), w2=cache.z1.T @ delta2 / n, b2=jnp.mean(delta2)
    )


@finite_inputs
def risk_grad(params: TwoLayerParams, X: jax.Array, y: jax.Array, alpha) -> TwoLayerParams:
    """grad R(theta): one forward pass, then the hand-written backward pass."""
    return backward(params, X, y, alpha, forward(params, X, alpha))


def zeros_init(num_hidden: int, dim: int = 2, dtype=None) -> TwoLayerParams:
    """theta_0 = 0: every hidden unit identical, a symmetry that gradient steps never break."""
    _check_sizes(num_hidden, dim)
    dtype = dtype or jnp.result_type(float)
    return TwoLayerParams(jnp.zeros((num_hidden, dim), dtype), jnp.zeros((num_hidden,), dtype),
                          jnp.zeros((num_hidden,), dtype), jnp.zeros((), dtype))


def gaussian_init(key: jax.Array, num_hidden: int, dim: int = 2, scale: float = 0.1, dtype=None) -> TwoLayerParams:
    """theta_0 ~ N(0, scale^2 I), every weight and bias independent."""
    _check_sizes(num_hidden, dim)
    dtype = dtype or jnp.result_type(float)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    normal = jax.random.normal
    return TwoLayerParams(scale * normal(k1, (num_hidden, dim), dtype), scale * normal(k2, (num_hidden,), dtype),
                          scale * normal(k3, (num_hidden,), dtype), scale * normal(k4, (), dtype))


def _check_sizes(num_hidden: int, dim: int) -> None:
    """Raise ValueError unless K and d are positive integers."""
    for name, value in (("num_hidden", num_hidden), ("dim", dim)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


@finite_inputs
def hidden_unit_spread(params: TwoLayerParams) -> jax.Array:
    """max_j ||u_j - u_1||_inf with u_j = (W1_j, b1_j, w2_j): exactly 0 iff all hidden units are equal.

    Measured against the first unit, not the mean: a float mean of equal numbers
    need not equal them (on a GPU it was 1 ulp off), the first unit always does.
    """
    units = jnp.concatenate([params.W1, params.b1[:, None], params.w2[:, None]], axis=1)
    return jnp.max(jnp.abs(units - units[:1]))


def xor_blobs(key: jax.Array, num_points: int, spread: float = 0.2, dtype=None) -> tuple[jax.Array, jax.Array]:
    """n points around the four corners (+-1/2, +-1/2) + N(0, spread^2 I); label y = 1[x1 x2 > 0] of the corner.

    Labels in {0, 1} are the two ends of the sigmoid output's range, and no line
    separates them (the classes sit on opposite diagonals: XOR), so the hidden layer is
    needed: two hidden sigmoids can carve the two diagonal regions, one cannot.
    """
    if isinstance(num_points, bool) or int(num_points) != num_points or num_points < 4 or num_points % 4:
        raise ValueError(f"num_points must be a positive multiple of 4, got {num_points!r}")
    dtype = dtype or jnp.result_type(float)
    corners = jnp.asarray([[0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5]], dtype)
    labels = jnp.asarray([1.0, 1.0, 0.0, 0.0], dtype)
    which = jnp.tile(jnp.arange(4), int(num_points) // 4)
    X = corners[which] + spread * jax.random.normal(key, (int(num_points), 2), dtype)
    return X, labels[which]

"""Curvature of a loss at a parameter pytree: Hessian-vector products and Lanczos.

The Hessian of a network's loss is never formed: H v = d/dt grad L(theta + t v)|_{t=0}
is one forward-over-reverse pass (``jax.jvp`` of ``jax.grad``), and the extreme
eigenvalues come from the Lanczos tridiagonalization T_k = V_k^T H V_k of the
Krylov space span{v, Hv, ..., H^{k-1} v}: the top eigenvalue of T_k (a Ritz value)
converges to lambda_max(H) from below, much faster than power iteration and without
its failure when the eigenvalue of largest modulus is negative.

Full reorthogonalization (twice, against every stored Lanczos vector) keeps V_k
orthonormal in floating point. At a minimum of a network's training loss the
Hessian is close to the Gauss-Newton matrix 2/N J^T J of rank <= N, so the Krylov
space often becomes invariant after a few steps (beta_j ~ 0): the iteration then
restarts from a fresh random vector orthogonal to V_k with beta_j = 0, which keeps
T_k block-diagonal and every Ritz value an eigenvalue estimate of H.

Reference: Ghorbani, Krishnan and Xiao, "An Investigation into Neural Net
Optimization via Hessian Eigenvalue Density", ICML 2019 (Lanczos on HVPs).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def hvp(loss: Callable, params, v):
    """H(theta) v = d/dt grad L(theta + t v) at t = 0 (forward-over-reverse, no Hessian formed)."""
    return jax.jvp(jax.grad(loss), (params,), (v,))[1]


def flat_hvp(loss: Callable, params) -> tuple[Callable[[jax.Array], jax.Array], int]:
    """(v -> H v on flat vectors, dimension n) for the loss at the pytree ``params``."""
    flat, unravel = ravel_pytree(params)
    flat_loss = lambda w: loss(unravel(w))  # noqa: E731
    return (lambda v: hvp(flat_loss, flat, v)), flat.shape[0]


def _orthogonalize(V: jax.Array, w: jax.Array) -> jax.Array:
    """w - V^T (V w), applied twice ('twice is enough', Kahan-Parlett); unused rows of V are 0."""
    for _ in range(2):
        w = w - V.T @ (V @ w)
    return w


def lanczos_tridiagonal(matvec: Callable[[jax.Array], jax.Array], key: jax.Array, dim: int,
                        num_steps: int, dtype=None) -> tuple[jax.Array, jax.Array]:
    """(alpha, beta): T_k = tridiag(beta, alpha, beta) = V_k^T A V_k from a random start v_1.

    ``matvec`` is v -> A v for a symmetric A of size ``dim``; ``num_steps`` = k <= dim.
    beta[j] couples v_{j+1} and v_{j+2}; it is 0 where the Krylov space became invariant.
    """
    if isinstance(num_steps, bool) or int(num_steps) != num_steps or not 1 <= num_steps <= dim:
        raise ValueError(f"num_steps must be an integer in [1, {dim}], got {num_steps!r}")
    k = int(num_steps)
    dtype = jnp.result_type(float) if dtype is None else dtype
    eps = jnp.finfo(dtype).eps

    # Start and restart vectors drawn in one call (a draw per step inside the scan compiles slower).
    draws = jax.random.normal(key, (k + 1, dim), dtype)

    def unit(j):
        return draws[j] / jnp.linalg.norm(draws[j])

    def body(carry, j):
        V, scale = carry
        v = V[j]
        w = matvec(v)
        alpha = jnp.vdot(v, w)
        w = _orthogonalize(V, w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        invariant = beta <= 10.0 * jnp.sqrt(float(dim)) * eps * scale
        fresh = _orthogonalize(V, unit(j + 1))
        nxt = jnp.where(invariant, fresh / jnp.linalg.norm(fresh), w / jnp.where(invariant, 1.0, beta))
        V = V.at[j + 1].set(jnp.where(j + 1 < k, nxt, 0.0))
        return (V, scale), (alpha, jnp.where(invariant, 0.0, beta))

    V0 = jnp.zeros((k + 1, dim), dtype).at[0].set(unit(0))
    _, (alpha, beta) = jax.lax.scan(body, (V0, jnp.zeros((), dtype)), jnp.arange(k))
    return alpha, beta[:-1]


def ritz_values(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """Eigenvalues of the tridiagonal T_k (ascending): estimates of A's extreme eigenvalues."""
    T = jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)
    return jnp.linalg.eigvalsh(T)


def hessian_top_eigenvalues(loss: Callable, params, key: jax.Array, *, num_steps: int = 40,
                            top: int = 1) -> jax.Array:
    """The ``top`` largest eigenvalues of the Hessian of L at theta (descending), by Lanczos on HVPs.

    ``num_steps`` is capped at the number of parameters; with num_steps = n the result
    is exact up to rounding. Pure and jit-able; vmaps over ``params`` and ``key``.
    """
    matvec, dim = flat_hvp(loss, params)
    if isinstance(top, bool) or int(top) != top or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    k = min(int(num_steps), dim)
    if top > k:
        raise ValueError(f"top = {top} exceeds the number of Lanczos steps {k}")
    dtype = ravel_pytree(params)[0].dtype
    alpha, beta = lanczos_tridiagonal(matvec, key, dim, k, dtype)
    return ritz_values(alpha, beta)[::-1][: int(top)]


def hessian_top_eigenvalue(loss: Callable, params, key: jax.Array, *, num_steps: int = 40) -> jax.Array:
    """lambda_max(grad^2 L(theta)), the sharpness, by Lanczos on Hessian-vector products."""
    return hessian_top_eigenvalues(loss, params, key, num_steps=num_steps, top=1)[0]


def dense_hessian(loss: Callable, params) -> jax.Array:
    """The full n x n Hessian of L at theta on the flattened parameters (for small nets and tests)."""
    flat, unravel = ravel_pytree(params)
    # One compiled program: op-by-op dispatch of the jvp-of-vjp graph costs about 7x more.
    return jax.jit(jax.hessian(lambda w: loss(unravel(w))))(flat)

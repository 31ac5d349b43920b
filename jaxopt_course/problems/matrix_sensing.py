"""Matrix sensing: recover X* = U* U*^T (d x d, rank r) from y_i = <A_i, X*>, i < m.

Loss ``f(U) = 1/(2m) sum_i (<A_i, U U^T> - y_i)^2`` over U in R^{d x R}, gradient
``grad f(U) = 1/m sum_i r_i (A_i + A_i^T) U = 2/m A^T(r) U`` with residuals
``r_i = <A_i, U U^T> - y_i`` and ``A^T(r) = sum_i r_i S_i``. The operator (storage
layouts, one- or two-pass products, streaming, memory threshold) lives in
``sensing_operator`` and is re-exported here.

Normalization: ``U* = G / ||G G^T||_F^{1/2}`` with G Gaussian, so ``||X*||_F = 1`` and
``E y_i^2 = ||X*||_F^2 = 1``. The population loss is ``E f(U) = 1/2 ||U U^T - X*||_F^2``.
Step size: ``eta = c / (rms(y) + ||U_0||_2^2)`` with ``c = STEP_CONSTANT``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course.problems._checks import finite_inputs
from jaxopt_course.problems.sensing_operator import (  # noqa: F401  (re-exported)
    CACHE_BLOCK_BYTES,
    KEY_BLOCK_ELEMENTS,
    KERNELS,
    LAYOUTS,
    MEMORY_FRACTION,
    STORAGE_DTYPES,
    Operator,
    SensingOperator,
    StreamedOperator,
    _check_measurements,
    _dot,
    _HIGHEST,
    _positive_int,
    adjoint,
    available_memory_bytes,
    compiled_kernel_applies,
    compiled_kernel_default,
    compute_dtype,
    default_block_rows,
    default_transpose_copy,
    fits_in_memory,
    measure,
    measurement_block,
    measurement_matrices,
    num_measurements,
    operator_bytes,
    residual_adjoint,
    resolve_kernel,
    resolve_passes,
    row_size,
    rows_per_key,
    sensing_operator,
    storage_dtype,
    stored_block,
    symmetric_matrix,
    vectorize,
)

STEP_CONSTANT = 0.25  # c in eta = c / (rms(y) + ||U_0||_2^2); c = 0.5 already oscillates when m ~ d^2/4.


# ----------------------------------------------------------------------------- the problem


class SensingProblem(NamedTuple):
    """A planted matrix-sensing instance."""

    operator: Operator  # the symmetrized measurements S_i.
    y: jax.Array  # shape (m,): y_i = <A_i, X*> measured with the stored operator.
    u_star: jax.Array  # shape (d, r): the planted factor U*.
    x_star: jax.Array  # shape (d, d): X* = U* U*^T, ||X*||_F = 1.


def planted_factor(key: jax.Array, d: int, r: int, dtype=jnp.float32) -> jax.Array:
    """U* = G / ||G G^T||_F^{1/2} with G_ij ~ N(0, 1) (d x r), so that ||U* U*^T||_F = 1."""
    G = jax.random.normal(key, (_positive_int("d", d), _positive_int("r", r)), dtype)
    return G / jnp.sqrt(jnp.linalg.norm(G @ G.T))


def make_problem(key: jax.Array, d: int, r: int, m: int, *, layout: str = "packed", dtype=jnp.float32,
                 streamed: bool | None = None, transpose_copy: bool | None = False) -> SensingProblem:
    """A planted instance: key -> (key_U, key_A); streamed=None streams iff A does not fit in memory.

    ``transpose_copy=None`` stores S^T too exactly where a step takes XLA's two passes
    (an accelerator, or no compiled kernel for this storage; see ``sensing_operator``).
    """
    d, r, m = _positive_int("d", d), _positive_int("r", r), _positive_int("m", m)
    if r > d:
        raise ValueError(f"the rank r = {r} cannot exceed d = {d}")
    if transpose_copy is None:
        transpose_copy = default_transpose_copy(dtype)
    if streamed is None:
        copies = 2 if transpose_copy else 1
        streamed = not fits_in_memory(d, copies * m, layout, dtype)
        transpose_copy = transpose_copy and not streamed
    key_u, key_a = jax.random.split(key)
    op = sensing_operator(key_a, d, m, layout=layout, dtype=dtype, streamed=streamed, transpose_copy=transpose_copy)
    # drawn in float32 like A, multiplied in the compute dtype: X* is exactly rank r in float64 too
    u_star = planted_factor(key_u, d, r).astype(compute_dtype(storage_dtype(op)))
    x_star = _dot(u_star, u_star.T)
    return SensingProblem(op, jax.jit(measure)(op, x_star), u_star, x_star)


def loss(op: Operator, y: jax.Array, U: jax.Array) -> jax.Array:
    """f(U) = 1/(2m) sum_i (<A_i, U U^T> - y_i)^2."""
    _check_measurements(op, y)
    check_factor_shape(U, op.dim)
    r = measure(op, U @ U.T) - y
    return 0.5 * jnp.mean(r * r)


def gradient(op: Operator, y: jax.Array, U: jax.Array, *, passes="auto", block_rows=None,
             kernel="auto") -> jax.Array:
    """grad f(U) = 1/m sum_i r_i (A_i + A_i^T) U = 2/m A^T(A(U U^T) - y) U."""
    check_factor_shape(U, op.dim)
    G = residual_adjoint(op, y, U @ U.T, passes=passes, block_rows=block_rows, kernel=kernel)
    return (2.0 / num_measurements(op)) * _dot(G, U)


@finite_inputs
def loss_reference(A: jax.Array, y: jax.Array, U: jax.Array) -> jax.Array:
    """f(U) = 1/(2m) sum_i (<A_i, U U^T> - y_i)^2 from the raw A_i (m, d, d), as written in the course."""
    _check_raw(A, y, U)
    r = jnp.einsum("ijk,jk->i", A, U @ U.T, precision=_HIGHEST) - y
    return 0.5 * jnp.mean(r * r)


@finite_inputs
def gradient_reference(A: jax.Array, y: jax.Array, U: jax.Array) -> jax.Array:
    """grad f(U) = 1/m sum_i r_i (A_i + A_i^T) U from the raw A_i, as written in the course."""
    _check_raw(A, y, U)
    r = jnp.einsum("ijk,jk->i", A, U @ U.T, precision=_HIGHEST) - y
    return jnp.einsum("i,ijk,kl->jl", r, A + jnp.swapaxes(A, 1, 2), U, precision=_HIGHEST) / A.shape[0]


# ----------------------------------------------------------------------------- gradient descent


def init_factor(key: jax.Array, d: int, R: int, alpha, dtype=jnp.float32) -> jax.Array:
    """U_0 = alpha W with W_ij ~ N(0, 1/d) (so ||W||_2 is about 2 for a square W)."""
    W = jax.random.normal(key, (_positive_int("d", d), _positive_int("R", R)), dtype) / math.sqrt(d)
    return jnp.asarray(alpha, dtype) * W


def step_size(y: jax.Array, U0: jax.Array, c: float = STEP_CONSTANT) -> jax.Array:
    """eta = c / (rms(y) + ||U_0||_2^2): rms(y) estimates ||X*||_F (E y_i^2 = ||X*||_F^2).

    ``c`` is a number (checked > 0) or a traced scalar (a swept step constant), taken in the dtype of y.
    """
    if isinstance(c, (int, float)) and not c > 0:
        raise ValueError(f"the step constant c must be positive, got {c!r}")
    scale = jnp.sqrt(jnp.mean(y * y)) + jnp.linalg.norm(U0, ord=2) ** 2
    return (jnp.asarray(c, scale.dtype) / scale).astype(U0.dtype)


def check_step_dtypes(op: Operator, y: jax.Array, U: jax.Array) -> None:
    """TypeError unless U and y have the compute dtype of the storage (no silent conversion of A)."""
    ct = compute_dtype(storage_dtype(op))
    if U.dtype != ct or y.dtype != ct:
        raise TypeError(f"the step needs U and y in {ct.name} for {storage_dtype(op).name} storage, "
                        f"got U {U.dtype.name} and y {y.dtype.name}")


def gd_step(problem: SensingProblem, eta, *, passes="auto", block_rows=None, kernel="auto"):
    """The run.run step U_{t+1} = U_t - eta grad f(U_t) (dtypes asserted when traced)."""

    def step(U, k, noise):
        del k, noise
        check_step_dtypes(problem.operator, problem.y, U)
        g = gradient(problem.operator, problem.y, U, passes=passes, block_rows=block_rows, kernel=kernel)
        assert g.dtype == U.dtype, (g.dtype, U.dtype)
        return U - jnp.asarray(eta, U.dtype) * g

    return step


# ----------------------------------------------------------------------------- distances and spectra


def check_factor(U: jax.Array, x_star: jax.Array) -> None:
    """Raise ValueError unless X* is a non-empty (d, d) matrix and U is (d, R) with R >= 1."""
    if x_star.ndim != 2 or x_star.shape[0] != x_star.shape[1] or x_star.shape[0] == 0:
        raise ValueError(f"X* must be a non-empty square (d, d) matrix, got shape {x_star.shape}")
    check_factor_shape(U, x_star.shape[0])


def check_factor_shape(U, d: int) -> None:
    """Raise ValueError unless U is a (d, R) matrix with R >= 1."""
    shape = jnp.shape(U)
    if len(shape) != 2 or shape[0] != d or shape[1] == 0:
        raise ValueError(f"U must have shape ({d}, R) with R >= 1, got {shape}")


def _check_raw(A, y, U) -> None:
    """Raise ValueError unless A is (m, d, d), y is (m,) and U is (d, R)."""
    if jnp.ndim(A) != 3 or jnp.shape(A)[1] != jnp.shape(A)[2]:
        raise ValueError(f"A must hold m square (d, d) matrices, shape (m, d, d), got {jnp.shape(A)}")
    if jnp.shape(y) != jnp.shape(A)[:1]:
        raise ValueError(f"y must have shape ({jnp.shape(A)[0]},) (one value per A_i), got {jnp.shape(y)}")
    check_factor_shape(U, jnp.shape(A)[1])


@finite_inputs
def distance(U: jax.Array, x_star: jax.Array) -> jax.Array:
    """||U U^T - X*||_F."""
    check_factor(U, x_star)
    return jnp.linalg.norm(U @ U.T - x_star)


@finite_inputs
def relative_distance(U: jax.Array, x_star: jax.Array) -> jax.Array:
    """||U U^T - X*||_F / ||X*||_F."""
    return distance(U, x_star) / jnp.linalg.norm(x_star)


@finite_inputs
def top_singular_values(U: jax.Array, k: int = 10) -> jax.Array:
    """sigma_1(U) >= ... >= sigma_k(U) (zero-padded when U has fewer)."""
    s = jnp.linalg.svd(U, compute_uv=False)
    return jnp.pad(s, (0, max(0, k - s.shape[0])))[:k]


@finite_inputs
def effective_rank(U: jax.Array) -> jax.Array:
    """exp(-sum_i p_i log p_i), p_i = lambda_i / sum_j lambda_j, lambda = eig(U U^T) = sigma(U)^2 (Roy-Vetterli)."""
    lam = jnp.linalg.svd(U, compute_uv=False) ** 2
    p = lam / jnp.sum(lam)
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


# ----------------------------------------------------------------------------- the population view


@finite_inputs
def population_loss(U: jax.Array, x_star: jax.Array) -> jax.Array:
    """F(U) = E f(U) = 1/2 ||U U^T - X*||_F^2 (Gaussian A_i)."""
    check_factor(U, x_star)
    D = U @ U.T - x_star
    return 0.5 * jnp.sum(D * D)


@finite_inputs
def population_gradient(U: jax.Array, x_star: jax.Array) -> jax.Array:
    """grad F(U) = 2 (U U^T - X*) U."""
    check_factor(U, x_star)
    return 2.0 * (U @ U.T - x_star) @ U


@finite_inputs
def rank_one_hessian(u: jax.Array, x_star: jax.Array) -> jax.Array:
    """nabla^2 F(u) = 2 ||u||^2 I + 4 u u^T - 2 X* for a rank-1 factor u in R^d."""
    check_factor(jnp.reshape(u, (-1, 1)) if u.ndim == 1 else u[None], x_star)
    return 2.0 * jnp.dot(u, u) * jnp.eye(u.shape[0], dtype=u.dtype) + 4.0 * jnp.outer(u, u) - 2.0 * x_star


def rank_one_critical_points(x_star: jax.Array, tol: float = 1e-6) -> tuple[jax.Array, jax.Array]:
    """Critical points of F for R = 1: u = 0 and u = +-sqrt(lambda_k) v_k for each eigenpair with lambda_k > tol.

    Returns (points, eigenvalue) with points of shape (2K+1, d) (0 first, then +v, -v per
    eigenvalue, largest first) and the eigenvalue lambda attached to each point (0 for u = 0).
    """
    lam, V = jnp.linalg.eigh(x_star)
    lam, V = np.asarray(lam[::-1]), np.asarray(V[:, ::-1])
    keep = lam > tol * max(lam[0], np.finfo(np.float32).tiny)
    points, values = [np.zeros(x_star.shape[0], lam.dtype)], [0.0]
    for lam_k, v_k in zip(lam[keep], V[:, keep].T):
        for sign in (1.0, -1.0):
            points.append(sign * np.sqrt(lam_k) * v_k)
            values.append(lam_k)
    return jnp.asarray(np.stack(points)), jnp.asarray(np.asarray(values, lam.dtype))

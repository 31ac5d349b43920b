"""The matrix-sensing measurement operator A(M) = (<A_i, M>)_i and its adjoint r -> sum_i r_i A_i.

Storage. A symmetric argument only sees the symmetric part of A_i
(``<A_i, M> = <S_i, M>`` for ``M = M^T``, ``S_i = (A_i + A_i^T)/2``), so A is
symmetrized once and kept as a matrix with one row per measurement:

* layout ``"full"``: rows ``vec(S_i)``, an ``m x d^2`` matrix (the textbook layout);
* layout ``"packed"``: the upper triangle of S_i, an ``m x d(d+1)/2`` matrix, each
  distinct entry once; the argument's off-diagonal entries are weighted by 2.

A GD step is memory-bound: it must read the stored matrix for the residuals
``r = S vec(U U^T) - y`` and again for the adjoint ``S^T r``, unless both are done
block by block while a block of rows is in cache (``passes=1``). On the CPU the one
pass is best done by the compiled kernel (``jaxopt_course.kernels``, ``kernel=
"compiled"``), which also reads S once for all the right-hand sides of a vmapped
sweep that share it; XLA's own schedules (``kernel="xla"``) are the fallback and
the path on accelerators. Storage dtypes:
float32 (default), float64 (same Gaussian draws, exact products), bfloat16 (half the
bytes; the sensing operator then IS the rounded matrix and y is measured with it,
products are computed in float32, so recovery is unaffected).

Ensemble. A_i has i.i.d. N(0, 1) entries, drawn in float32 in blocks of
``rows_per_key(d)`` rows, block b from ``fold_in(key_A, b)``: the in-memory operator
and the streamed one (blocks regenerated from their keys at every use, for A beyond
memory) are the same matrix bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import psutil
from jax import lax

from jaxopt_course import kernels


LAYOUTS = ("full", "packed")
KERNELS = ("auto", "compiled", "xla")
STORAGE_DTYPES = ("float32", "float64", "bfloat16")
KEY_BLOCK_ELEMENTS = 2**20  # entries of A drawn per key: rows_per_key(d) = max(1, 2^20 // d^2).
CACHE_BLOCK_BYTES = 2**20  # one-pass blocks hold about 1 MiB of the stored matrix (fits in L2).
MEMORY_FRACTION = 0.5  # the in-memory operator may take at most this share of free memory.
_HIGHEST = lax.Precision.HIGHEST  # float32 products stay float32 on GPUs too (no TF32).


# ----------------------------------------------------------------------------- checks and layouts


def _positive_int(name: str, value) -> int:
    """value as an int, or ValueError unless it is a positive integer."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_layout(layout: str) -> str:
    """layout, or ValueError unless it is 'full' or 'packed'."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return layout


def _check_dtype(dtype) -> str:
    """The storage dtype's name; ValueError unless float32/float64/bfloat16 (float64 needs x64)."""
    name = jnp.dtype(dtype).name
    if name not in STORAGE_DTYPES:
        raise ValueError(f"storage dtype must be one of {STORAGE_DTYPES}, got {name}")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("float64 storage needs jax_enable_x64 (use jaxopt_course.precision.float64())")
    return name


def compute_dtype(storage) -> jnp.dtype:
    """Products are computed in float64 for float64 storage, else in float32."""
    return jnp.dtype(jnp.float64 if jnp.dtype(storage) == jnp.float64 else jnp.float32)


def row_size(d: int, layout: str) -> int:
    """Entries per stored row: d^2 (full) or d(d+1)/2 (packed)."""
    return d * d if _check_layout(layout) == "full" else d * (d + 1) // 2


def _packed_positions(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices j d + k of the upper triangle (j <= k), and for every (j, k) the packed slot of (min, max)."""
    rows, cols = np.triu_indices(d)
    slot = np.empty((d, d), np.int32)
    slot[rows, cols] = slot[cols, rows] = np.arange(rows.size, dtype=np.int32)
    return (rows * d + cols).astype(np.int32), slot.reshape(-1)


def vectorize(M: jax.Array, layout: str) -> jax.Array:
    """v with <S_i, M> = row_i . v for symmetric M: vec(M) (full) or w * triu(M), w = 2 off-diagonal (packed)."""
    d = M.shape[-1]
    flat = M.reshape(M.shape[:-2] + (d * d,))
    if _check_layout(layout) == "full":
        return flat
    upper, _ = _packed_positions(d)
    rows, cols = np.divmod(upper, d)
    weights = np.where(rows == cols, 1.0, 2.0).astype(M.dtype)
    return jnp.take(flat, upper, axis=-1) * weights


def symmetric_matrix(g: jax.Array, d: int, layout: str) -> jax.Array:
    """The symmetric G with row-space coordinates g: g reshaped (full), or G_jk = G_kj = g_jk (packed)."""
    if _check_layout(layout) == "packed":
        g = jnp.take(g, _packed_positions(d)[1], axis=-1)
    return g.reshape(g.shape[:-1] + (d, d))


def _to_rows(S: jax.Array, layout: str) -> jax.Array:
    """Stored rows of symmetric S_i (B, d, d): vec(S_i) (full) or triu(S_i) (packed)."""
    d = S.shape[-1]
    if layout == "full":
        return S.reshape(S.shape[0], d * d)
    return jnp.take(S.reshape(S.shape[0], d * d), _packed_positions(d)[0], axis=-1)


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b at full precision."""
    return jnp.dot(a, b, precision=_HIGHEST)


# ----------------------------------------------------------------------------- the ensemble


def rows_per_key(d: int) -> int:
    """Rows of A drawn from one key: max(1, 2^20 // d^2) (about 4 MiB of float32 per block)."""
    return max(1, KEY_BLOCK_ELEMENTS // (d * d))


def measurement_block(key: jax.Array, block: jax.Array, d: int) -> jax.Array:
    """A_i for the rows of one key block: i.i.d. N(0, 1) d x d matrices from fold_in(key, block)."""
    return jax.random.normal(jax.random.fold_in(key, block), (rows_per_key(d), d, d), jnp.float32)


def measurement_matrices(key: jax.Array, d: int, m: int) -> jax.Array:
    """The raw A_i, shape (m, d, d): key blocks of rows_per_key(d) rows, block b from fold_in(key, b)."""
    d, m = _positive_int("d", d), _positive_int("m", m)
    blocks = lax.map(lambda b: measurement_block(key, b, d), jnp.arange(-(-m // rows_per_key(d))))
    return blocks.reshape(-1, d, d)[:m]


def stored_block(key: jax.Array, block: jax.Array, d: int, layout: str, dtype: str) -> jax.Array:
    """Stored rows of one key block: S_i = (A_i + A_i^T)/2 in the layout, rounded to the storage dtype."""
    A = _materialized(measurement_block(key, block, d)).astype(compute_dtype(dtype))  # exact sums for float64
    return _to_rows(0.5 * (A + jnp.swapaxes(A, 1, 2)), layout).astype(dtype)


def _materialized(A: jax.Array) -> jax.Array:
    """A, written to memory before use.

    Fused into the symmetrization, XLA:CPU recomputed each Gaussian draw for A and for
    A^T along different (vector and scalar) code paths, so S was not exactly symmetric
    and differed from the raw A_i by up to 2e-7 (measured). An optimization barrier is
    removed before fusion, and a branch on a constant is folded; a branch on a value
    of A (always finite) is neither.
    """
    return lax.cond(jnp.isfinite(A.reshape(-1)[0]), lambda a: a, lambda a: -a, A)


@dataclasses.dataclass(frozen=True)
class SensingOperator:
    """The symmetrized measurements held in memory, one row per measurement."""

    matrix: jax.Array  # shape (m, d^2) (full) or (m, d(d+1)/2) (packed), storage dtype.
    dim: int  # d.
    layout: str  # 'full' or 'packed'.
    transposed: Optional[jax.Array] = None  # matrix^T stored row-major too, or None (see sensing_operator).


@dataclasses.dataclass(frozen=True)
class StreamedOperator:
    """The same operator never stored: key block b is regenerated from fold_in(key, b) at each use."""

    key: jax.Array  # the measurement key key_A.
    dim: int  # d.
    num_measurements: int  # m.
    layout: str  # 'full' or 'packed'.
    dtype: str  # storage dtype name: each regenerated block is rounded to it.


jax.tree_util.register_dataclass(SensingOperator, data_fields=["matrix", "transposed"], meta_fields=["dim", "layout"])
jax.tree_util.register_dataclass(
    StreamedOperator, data_fields=["key"], meta_fields=["dim", "num_measurements", "layout", "dtype"]
)
Operator = Union[SensingOperator, StreamedOperator]


def num_measurements(op: Operator) -> int:
    """m."""
    return op.matrix.shape[0] if isinstance(op, SensingOperator) else op.num_measurements


def storage_dtype(op: Operator) -> jnp.dtype:
    """The dtype the operator's entries are stored (or regenerated) in."""
    return op.matrix.dtype if isinstance(op, SensingOperator) else jnp.dtype(op.dtype)


def _stored_matrix_impl(key, d: int, m: int, layout: str, dtype: str) -> jax.Array:
    """All stored rows (m, n), built key block by key block (the raw A is never held whole)."""
    blocks = lax.map(lambda b: stored_block(key, b, d, layout, dtype), jnp.arange(-(-m // rows_per_key(d))))
    return blocks.reshape(-1, blocks.shape[-1])[:m]


_stored_matrix = jax.jit(_stored_matrix_impl, static_argnums=(1, 2, 3, 4))


def sensing_operator(key: jax.Array, d: int, m: int, *, layout: str = "packed", dtype=jnp.float32,
                     streamed: bool = False, transpose_copy: bool = False) -> Operator:
    """The operator of the measurements A_i drawn from key (in memory, or streamed from its keys).

    ``transpose_copy`` also stores S^T row-major (twice the memory) so that the adjoint
    ``S^T R`` of a batch of residuals (the vmapped alpha sweep) streams a row-major
    matrix too: XLA:CPU's skinny product ``R S`` with the big matrix on the right ran
    2-3x slower than ``S^T R`` (measured, d = 100, m = 5000, 5 residual vectors).
    """
    d, m = _positive_int("d", d), _positive_int("m", m)
    layout, dtype = _check_layout(layout), _check_dtype(dtype)
    if streamed:
        if transpose_copy:
            raise ValueError("a streamed operator stores nothing: transpose_copy needs streamed=False")
        return StreamedOperator(key, d, m, layout, dtype)
    matrix = _stored_matrix(key, d, m, layout, dtype)
    return SensingOperator(matrix, d, layout, _transpose(matrix) if transpose_copy else None)


_transpose = jax.jit(jnp.transpose)  # a materialized (row-major) copy of S^T


# ----------------------------------------------------------------------------- memory


def operator_bytes(d: int, m: int, layout: str = "packed", dtype=jnp.float32) -> int:
    """Bytes of the stored matrix: m * row_size(d) * itemsize."""
    return int(m) * row_size(int(d), layout) * jnp.dtype(dtype).itemsize


def available_memory_bytes(device=None) -> int:
    """Free memory of a device: bytes_limit - bytes_in_use on accelerators, available RAM (psutil; MemAvailable on Linux) on CPU."""
    device = jax.devices()[0] if device is None else device
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return int(psutil.virtual_memory().available)


def fits_in_memory(d: int, m: int, layout: str = "packed", dtype=jnp.float32, *,
                   fraction: float = MEMORY_FRACTION, available: int | None = None) -> bool:
    """Whether the stored matrix takes at most ``fraction`` of the free memory (the rest: XLA temporaries)."""
    free = available_memory_bytes() if available is None else available
    return operator_bytes(d, m, layout, dtype) <= fraction * free


# ----------------------------------------------------------------------------- operator and adjoint


def _one_pass_in_memory(S: jax.Array, y: jax.Array, v: jax.Array, block_rows: int) -> jax.Array:
    """sum_b S_b^T (S_b v - y_b) over row blocks, each block read once (in storage dtype, upcast in cache)."""
    ct = compute_dtype(S.dtype)
    m, n = S.shape
    size = min(block_rows, m)
    num_blocks, tail = divmod(m, size)

    def body(b, acc):
        s = lax.dynamic_slice_in_dim(S, b * size, size).astype(ct)
        return acc + _dot(_dot(s, v) - lax.dynamic_slice_in_dim(y, b * size, size), s)

    acc = lax.fori_loop(0, num_blocks, body, jnp.zeros(v.shape[:-1] + (n,), ct))
    if tail:
        s = S[num_blocks * size:].astype(ct)
        acc = acc + _dot(_dot(s, v) - y[num_blocks * size:], s)
    return acc


def _one_pass_streamed(op: StreamedOperator, y: jax.Array, v: jax.Array) -> jax.Array:
    """sum_b S_b^T (S_b v - y_b) with every key block regenerated once (rows past m masked)."""
    ct = compute_dtype(op.dtype)
    size, m = rows_per_key(op.dim), op.num_measurements
    num_blocks = -(-m // size)
    y_pad = jnp.pad(y, (0, num_blocks * size - m))

    def body(b, acc):
        s = stored_block(op.key, b, op.dim, op.layout, op.dtype).astype(ct)
        valid = b * size + jnp.arange(size) < m
        r = jnp.where(valid, _dot(s, v) - lax.dynamic_slice_in_dim(y_pad, b * size, size), 0)
        return acc + _dot(r, s)

    return lax.fori_loop(0, num_blocks, body, jnp.zeros(v.shape[:-1] + (row_size(op.dim, op.layout),), ct))


def _kernel_runs(dtype) -> bool:
    """Whether the compiled kernel runs storage of this dtype: float32, and the kernel built."""
    return jnp.dtype(dtype) == jnp.float32 and kernels.available()


def compiled_kernel_applies(op: Operator) -> bool:
    """Whether the compiled one-pass kernel can run op: in-memory float32 storage, kernel built."""
    return isinstance(op, SensingOperator) and _kernel_runs(op.matrix.dtype)


def compiled_kernel_default(dtype) -> bool:
    """Whether kernel='auto' runs an in-memory operator stored in dtype compiled: float32, one CPU device, built."""
    return _kernel_runs(dtype) and _cpu_device_count() == 1


def _cpu_device_count() -> int:
    """Devices of the CPU backend (0 where it is not initialized, e.g. JAX_PLATFORMS=cuda)."""
    try:
        return len(jax.devices("cpu"))
    except RuntimeError:
        return 0


def default_transpose_copy(dtype) -> bool:
    """Whether to store S^T too: exactly where a step takes XLA's two passes (accelerator, or no kernel)."""
    return not (jax.default_backend() == "cpu" and compiled_kernel_default(dtype))


def resolve_kernel(op: Operator, kernel="auto", passes="auto", block_rows=None) -> str:
    """'compiled' or 'xla'.

    'auto' takes the compiled kernel where it applies, no XLA schedule was asked for
    (``passes`` 2 or a ``block_rows``), and the CPU is one device: under a sharded
    seed sweep over several CPU devices, XLA's partitioner would replicate the
    custom call's operands, so XLA's own products are used there.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "xla":
        return "xla"
    xla_schedule = passes == 2 or block_rows is not None
    if kernel == "compiled":
        if xla_schedule:
            raise ValueError("the compiled kernel reads S once: it takes passes=1 or 'auto' and no block_rows")
        if not compiled_kernel_applies(op):
            why = kernels.unavailable_reason() or "it needs an in-memory operator stored in float32"
            raise ValueError(f"kernel='compiled' cannot run this operator: {why}")
        return "compiled"
    default = isinstance(op, SensingOperator) and compiled_kernel_default(op.matrix.dtype)
    return "compiled" if default and not xla_schedule else "xla"


def resolve_passes(op: Operator, passes="auto", kernel="auto") -> int:
    """Reads of the stored matrix per step: 'auto' is 1 with the compiled kernel or converted storage, else 2."""
    if passes == "auto":
        if resolve_kernel(op, kernel) == "compiled":
            return 1
        same = isinstance(op, SensingOperator) and compute_dtype(op.matrix.dtype) == op.matrix.dtype
        return 2 if same else 1
    if passes not in (1, 2):
        raise ValueError(f"passes must be 1, 2 or 'auto', got {passes!r}")
    if passes == 2 and not isinstance(op, SensingOperator):
        raise ValueError("a streamed operator is read in one pass (passes=1)")
    return passes


def default_block_rows(op: Operator) -> int:
    """Rows per one-pass block: about CACHE_BLOCK_BYTES of stored matrix."""
    row_bytes = row_size(op.dim, op.layout) * storage_dtype(op).itemsize
    return max(1, CACHE_BLOCK_BYTES // row_bytes)


def residual_adjoint(op: Operator, y: jax.Array, M: jax.Array, *, passes="auto", block_rows=None,
                     kernel="auto") -> jax.Array:
    """A^T(A(M) - y) = sum_i (<S_i, M> - y_i) S_i (d x d), reading S once (passes=1) or twice (passes=2).

    ``kernel``: 'compiled' (the one-pass CPU kernel of ``jaxopt_course.kernels``; XLA's
    two passes on other platforms), 'xla' (XLA's products), or 'auto' (see ``resolve_kernel``).
    """
    _check_measurements(op, y)
    kernel = resolve_kernel(op, kernel, passes, block_rows)
    passes = resolve_passes(op, passes, kernel)
    # The barriers fix layouts under vmap (the alpha and seed sweeps): without them
    # XLA:CPU fused the packing of v into the first product and chose a transposed
    # operand layout (batched step 5x slower, measured); around the products they keep
    # the stored matrix on the left of both, S V and S^T R (see sensing_operator).
    v = lax.optimization_barrier(vectorize(M, op.layout))
    if kernel == "compiled":
        g = lax.platform_dependent(op.matrix, y, v, cpu=kernels.residual_adjoint,
                                   default=functools.partial(_two_passes, transposed=op.transposed))
    elif isinstance(op, StreamedOperator):
        g = _one_pass_streamed(op, y, v)
    elif passes == 1:
        g = _one_pass_in_memory(op.matrix, y, v, block_rows or default_block_rows(op))
    else:
        g = _two_passes(op.matrix, y, v, op.transposed)
    return symmetric_matrix(g, op.dim, op.layout)


def _two_passes(S: jax.Array, y: jax.Array, v: jax.Array, transposed: Optional[jax.Array] = None) -> jax.Array:
    """S^T (S v - y) as two products, the second on the stored S^T when there is one."""
    r = lax.optimization_barrier(_dot(S, v)) - y
    return _dot(r, S) if transposed is None else lax.optimization_barrier(_dot(transposed, r))


def measure(op: Operator, M: jax.Array) -> jax.Array:
    """A(M) = (<A_i, M>)_i = (<S_i, M>)_i for symmetric M, shape (m,)."""
    v = lax.optimization_barrier(vectorize(M, op.layout))  # operand layout under vmap: see residual_adjoint
    if isinstance(op, SensingOperator) and compute_dtype(op.matrix.dtype) == op.matrix.dtype:
        return _dot(op.matrix, v)
    m = num_measurements(op)
    size = rows_per_key(op.dim) if isinstance(op, StreamedOperator) else min(default_block_rows(op), m)
    num_blocks = -(-m // size)

    def block_values(b):
        if isinstance(op, StreamedOperator):
            s = stored_block(op.key, b, op.dim, op.layout, op.dtype)
        else:  # clamped at the end: the last block may repeat rows, trimmed below
            s = lax.dynamic_slice_in_dim(op.matrix, jnp.minimum(b * size, m - size), size)
        return _dot(s.astype(v.dtype), v)

    values = lax.map(block_values, jnp.arange(num_blocks))
    if isinstance(op, StreamedOperator):
        return values.reshape(-1)[:m]
    last = m - (num_blocks - 1) * size  # rows of the last block not already covered
    return jnp.concatenate([values[:-1].reshape(-1), values[-1, size - last:]])


def adjoint(op: Operator, r: jax.Array) -> jax.Array:
    """A^T(r) = sum_i r_i S_i (d x d, symmetric): the adjoint of A on symmetric matrices."""
    zero = jnp.zeros((op.dim, op.dim), r.dtype)
    return -residual_adjoint(op, r, zero)


def _check_measurements(op: Operator, y: jax.Array) -> None:
    """ValueError unless y has shape (m,)."""
    if y.shape != (num_measurements(op),):
        raise ValueError(f"y must have shape ({num_measurements(op)},), got {y.shape}")

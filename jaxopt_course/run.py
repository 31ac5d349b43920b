"""The runner: the only place that owns ``lax.scan``, metric recording, ``vmap``
over seeds and sharding over devices.

A run iterates ``state_{k+1} = step(state_k, k, noise_k)`` for k = 0..T-1 inside
one jit-compiled ``lax.scan`` and records ``metrics(state_k)`` only at the steps
of a record grid (a stride or a log-spaced grid), never every iterate.

Randomness. Steps are processed in chunks of ``chunk`` consecutive steps; the
noise of chunk c is drawn in bulk, ``sample(fold_in(key, c), chunk)``, because
drawing it one step at a time with the threefry generator is several times slower
(measured at 100 seeds: 47 vs 7 million replicate-iterations per second for a bare SGD
loop; chunks of 4000 rather than 1000 steps took the P3 step, with averaging and
recording, from 26 to 31 million). The noise
stream depends on (key, chunk) only, not on the record grid, so a trajectory is
the same whatever is recorded. A run of T steps is a prefix of a longer run with
the same key when T is a multiple of ``chunk``.

Recording. Whether step k is recorded depends on k alone, so under ``vmap`` the
``lax.cond`` that writes the record stays a real branch (no metric is computed at
unrecorded steps, even for a batch of seeds).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_course import progress
from jaxopt_course.optim.averaging import IterateAverage, average_init, average_update
from jaxopt_course.optim.base import GradientTransformation, apply_updates

State = Any
Step = Callable[[State, jax.Array, Any], State]


class Trace(NamedTuple):
    """What a run returns (every field gains a leading seed axis under ``sweep``)."""

    steps: jax.Array  # shape=(R,), int32: the recorded step numbers k.
    metrics: dict  # name -> array of shape (R, ...): metrics(state_k) at those steps.
    state: State  # the final state state_T (frozen at the stop step, if any).
    diverged_at: jax.Array  # shape=(), int32: first k with a non-finite state_k, or -1.
    stopped_at: jax.Array  # shape=(), int32: first k at which stop(state_k) held, or -1.


# ----------------------------------------------------------------------------- grids


def _check_num_steps(num_steps: int) -> int:
    """Validate T: a positive integer."""
    if isinstance(num_steps, bool) or int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    return int(num_steps)


def log_grid(num_steps: int, num: int = 100) -> np.ndarray:
    """{0} U {round(T^(j/(num-1))) : j = 0..num-1}: about ``num`` log-spaced steps from 1 to T."""
    num_steps = _check_num_steps(num_steps)
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    pts = np.round(np.logspace(0.0, np.log10(num_steps), num)).astype(np.int64)
    return np.unique(np.concatenate([[0], pts, [num_steps]])).astype(np.int32)


def stride_grid(num_steps: int, every: int) -> np.ndarray:
    """{0, s, 2s, ...} U {T}: every ``every`` steps, always including the last.

    Examples:
        >>> from jaxopt_course import run
        >>> run.stride_grid(10, 4).tolist()
        [0, 4, 8, 10]
    """
    num_steps = _check_num_steps(num_steps)
    if int(every) != every or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    return np.unique(np.append(np.arange(0, num_steps + 1, every), num_steps)).astype(np.int32)


def _check_grid(record, num_steps: int) -> np.ndarray:
    """Sorted unique record steps within [0, T] (integers: 1.5 is not a step)."""
    values = np.asarray(record)
    if values.size and not (np.issubdtype(values.dtype, np.integer) or np.all(np.mod(values, 1) == 0)):
        raise ValueError(f"record steps must be integers, got {values.tolist()[:8]}")
    grid = np.unique(values.astype(np.int64))
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("record must be a non-empty 1-D sequence of step numbers")
    if grid[0] < 0 or grid[-1] > num_steps:
        raise ValueError(f"record steps must lie in [0, {num_steps}], got [{grid[0]}, {grid[-1]}]")
    return grid.astype(np.int32)


# ----------------------------------------------------------------------------- run


def tree_all_finite(tree) -> jax.Array:
    """True iff every inexact leaf of ``tree`` is finite everywhere."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def not_finite(state) -> jax.Array:
    """Default divergence test: the sum of the state's entries (of an ``OptimState``: of the iterate) is inf or NaN.

    NaN and +-inf propagate through a sum, so it is non-finite iff some entry is, or
    iff the sum itself overflows (~1e38 in float32), which is divergence too; one
    reduction is cheaper than an elementwise test in every step of a small problem.
    For optimizer runs only the iterate theta_k is checked: a non-finite optimizer
    state reaches theta at the next step.
    """
    tree = state.params if isinstance(state, OptimState) else state
    sums = [jnp.sum(x) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return ~jnp.isfinite(sum(sums)) if sums else jnp.array(False)


class _Carry(NamedTuple):
    state: State
    buffer: dict
    next_slot: jax.Array
    diverged_at: jax.Array
    stopped_at: jax.Array


def _mark(first_at: jax.Array, happened: jax.Array, k: jax.Array) -> jax.Array:
    """first_at, or k if the event happens now for the first time."""
    return jnp.where((first_at < 0) & happened, k, first_at).astype(jnp.int32)


def _record(buffer: dict, slot: jax.Array, values: dict) -> dict:
    """buffer[name][slot] = values[name] for every metric."""
    return {name: buffer[name].at[slot].set(values[name].astype(buffer[name].dtype)) for name in buffer}


def _make_body(step, metrics, grid, diverged, stop):
    """One scan step: update (frozen once stopped), detect divergence, record on the grid."""
    grid_j = jnp.asarray(np.append(grid, -1), jnp.int32)  # sentinel past the last slot

    def body(carry: _Carry, inputs):
        k, noise = inputs
        new_state = step(carry.state, k, noise)
        if stop is not None:
            frozen = carry.stopped_at >= 0
            new_state = jax.tree.map(lambda o, n: jnp.where(frozen, o, n), carry.state, new_state)
        k1 = k + 1
        diverged_at = _mark(carry.diverged_at, diverged(new_state), k1)
        stopped_at = carry.stopped_at if stop is None else _mark(carry.stopped_at, stop(new_state), k1)
        hit = grid_j[carry.next_slot] == k1
        buffer = jax.lax.cond(
            hit, lambda b: _record(b, carry.next_slot, metrics(new_state)), lambda b: b, carry.buffer
        )
        next_slot = carry.next_slot + hit.astype(jnp.int32)
        return _Carry(new_state, buffer, next_slot, diverged_at, stopped_at), None

    return body


def _scan_chunk(body, sample, key, carry: _Carry, chunk_index, chunk: int, length: int) -> _Carry:
    """Run steps k = chunk_index * chunk + i, i < length (length <= chunk), noise drawn in bulk."""
    ks = chunk_index * chunk + jnp.arange(length, dtype=jnp.int32)
    noise = None if sample is None else sample(jax.random.fold_in(key, chunk_index), length)
    carry, _ = jax.lax.scan(body, carry, (ks, noise))
    return carry


def run(
    step: Step,
    state: State,
    num_steps: int,
    *,
    metrics: Callable[[State], dict],
    record=None,
    key: Optional[jax.Array] = None,
    sample: Optional[Callable[[jax.Array, int], Any]] = None,
    chunk: int = 4000,
    diverged: Callable[[State], jax.Array] = not_finite,
    stop: Optional[Callable[[State], jax.Array]] = None,
) -> Trace:
    """state_{k+1} = step(state_k, k, noise_k), k < T, recording metrics(state_k) on a grid.

    Args:
      step: pure function ``(state, k, noise) -> state``; ``noise`` is the k-th slice of
        the chunk's ``sample`` output (``None`` without ``sample``).
      state: the initial state state_0 (any pytree of arrays).
      num_steps: T, the number of updates.
      metrics: ``state -> {name: array}``, evaluated only at recorded steps.
      record: the recorded steps (default: ``log_grid(T)``); see ``log_grid`` and
        ``stride_grid``. Step 0 means the initial state.
      key: PRNG key for the noise (required with ``sample``).
      sample: ``(key, n) -> pytree`` of noise with leading axis n (e.g. n random indices).
      chunk: steps per bulk noise draw (the last chunk may be shorter).
      diverged: ``state -> bool``; the first step where it holds is ``diverged_at``.
      stop: optional ``state -> bool``; from the first step where it holds the state is
        frozen (updates masked, which works inside the scan and under vmap).

    Returns:
      A ``Trace``. Call it under ``jax.jit`` (``sweep`` does); it traces once per shape.
      When ``progress.enabled()`` at trace time, it reports its progress to the host
      (``jaxopt_course.progress``), without changing any number.
    """
    num_steps = _check_num_steps(num_steps)
    chunk = _check_num_steps(chunk)
    if sample is not None and key is None:
        raise ValueError("a key is required when sample is given")
    grid = _check_grid(log_grid(num_steps) if record is None else record, num_steps)
    chunk = min(chunk, num_steps)

    shapes = jax.eval_shape(metrics, state)
    buffer = {n: jnp.full((grid.size,) + s.shape, jnp.nan if jnp.issubdtype(s.dtype, jnp.inexact) else -1, s.dtype)
              for n, s in shapes.items()}
    at_zero = bool(grid[0] == 0)
    if at_zero:
        buffer = _record(buffer, jnp.int32(0), metrics(state))
    minus_one = jnp.int32(-1)
    carry = _Carry(
        state, buffer, jnp.int32(int(at_zero)),
        _mark(minus_one, diverged(state), jnp.int32(0)),
        minus_one if stop is None else _mark(minus_one, stop(state), jnp.int32(0)),
    )
    body = _make_body(step, metrics, grid, diverged, stop)
    n_full, rem = divmod(num_steps, chunk)
    ticks = progress.Ticks(num_steps, chunk, n_full)  # progress bar hooks: no-ops when progress is off

    def outer(c, index):
        return ticks.after_chunk(_scan_chunk(ticks.body(body), sample, key, c, index, chunk, chunk), index), None

    carry, _ = jax.lax.scan(outer, carry, jnp.arange(n_full, dtype=jnp.int32))
    if rem:
        carry = _scan_chunk(ticks.body(body, last=True), sample, key, carry, jnp.int32(n_full), chunk, rem)
    return Trace(jnp.asarray(grid), carry.buffer, carry.state, carry.diverged_at, carry.stopped_at)


# ----------------------------------------------------------------------------- optimizer steps


class OptimState(NamedTuple):
    """State of an optimizer run: the iterate, the optimizer's state, the iterate average."""

    params: Any  # theta_k.
    opt_state: Any  # the optimizer's own state.
    average: Optional[IterateAverage]  # bar theta_k, or None when not tracked.


def optimizer_init(params, optimizer: GradientTransformation, *, average: bool = False) -> OptimState:
    """state_0 = (theta_0, opt.init(theta_0), bar theta_0 = theta_0)."""
    return OptimState(params, optimizer.init(params), average_init(params) if average else None)


def optimizer_step(grad: Callable[[Any, Any], Any], optimizer: GradientTransformation) -> Step:
    """The step theta_{k+1} = theta_k + u_k, (u_k, s_{k+1}) = update(grad(theta_k, noise_k), s_k).

    ``grad(params, noise)`` returns the (stochastic) gradient; ``noise`` is the
    step's sampled data (e.g. an index), or None for full-batch gradients.
    """

    def step(state: OptimState, k, noise) -> OptimState:
        del k
        g = grad(state.params, noise)
        updates, opt_state = optimizer.update(g, state.opt_state, state.params)
        params = apply_updates(state.params, updates)
        average = None if state.average is None else average_update(params, state.average)
        return OptimState(params, opt_state, average)

    return step


# ----------------------------------------------------------------------------- sweeps (jaxopt_course.sweeps)

from jaxopt_course.sweeps import (  # noqa: E402  (re-exported: run.sweep, run.Sweeper, ...)
    MAX_SEED,
    YNNPACK_DOTS_ONLY,
    Sweeper,
    axis_grid,
    check_seed,
    grid,
    seed_key,
    seed_keys,
    seed_mesh,
    small_reductions_options,
    sweep,
)

__all__ = [
    "MAX_SEED", "OptimState", "Sweeper", "Trace", "YNNPACK_DOTS_ONLY", "axis_grid", "check_seed", "grid",
    "log_grid", "not_finite", "optimizer_init", "optimizer_step", "run", "seed_key", "seed_keys", "seed_mesh",
    "small_reductions_options", "stride_grid", "sweep", "tree_all_finite",
]

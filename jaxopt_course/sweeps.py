"""Sweeps: seeds x named hyperparameter axes in one ``jit(vmap(...))`` call, sharded over devices.

``sweep(fn, keys, *args, axes=...)`` flattens the product of the axes and the seeds into
one batch, vmaps ``fn`` over it, shards the batch over a 1-D device mesh (several
processes too), and reshapes the outputs to ``(*axis_lengths, num_seeds, ...)``. A
``Sweeper`` carries the devices and the checkpoint policy that the application layer
hands an experiment. Re-exported by ``jaxopt_course.run``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxopt_course import checkpoint, progress

MAX_SEED = 2**32 - 1  # threefry seeds are 32-bit: a larger integer would alias a smaller one


def check_seed(seed: int) -> int:
    """seed itself if 0 <= seed < 2^32 (each such seed its own stream); ValueError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"a seed must be an integer in [0, 2^32 - 1] (threefry seeds are 32-bit), got {seed!r}")
    return int(seed)


def seed_key(seed: int) -> jax.Array:
    """jax.random.key(seed) for a checked seed (``check_seed``)."""
    return jax.random.key(check_seed(seed))


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """num_seeds independent keys split from seed_key(seed)."""
    if isinstance(num_seeds, bool) or int(num_seeds) != num_seeds or num_seeds < 1:
        raise ValueError(f"the number of seeds must be a positive integer, got {num_seeds!r}")
    return jax.random.split(seed_key(seed), int(num_seeds))


def seed_mesh(devices=None) -> Mesh:
    """A 1-D mesh named 'seeds' over the given devices (default: all)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("a sweep needs at least one device")
    return Mesh(np.asarray(devices), ("seeds",))


def _pad_leading(x: jax.Array, multiple: int) -> jax.Array:
    """Pad axis 0 to a multiple of ``multiple`` by repeating the last entry."""
    extra = (-x.shape[0]) % multiple
    if extra == 0:
        return x
    return jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)], axis=0)


# XLA:CPU hands dots, reductions and elementwise ops to YNNPACK fusions by default.
# For tiny reductions a YNNPACK call costs far more than XLA's own loop (measured: 100
# inits x 2000 epochs of a 1-10-10-1 net written as broadcast products took 1.29 s with
# the defaults, 0.10 s with YNNPACK kept to dots), but the MNIST epoch of C2 was 26%
# slower with it (0.050 -> 0.063 s) and P3's sweep unchanged: so it is asked for per
# sweep (``sweep(..., compiler_options=small_reductions_options())``), not globally.
YNNPACK_DOTS_ONLY = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


@functools.cache
def small_reductions_options() -> dict:
    """XLA options for steps made of tiny reductions: YNNPACK_DOTS_ONLY on CPU when this jaxlib knows it, else {}."""
    if jax.default_backend() != "cpu":
        return {}
    try:
        jax.jit(lambda x: x + 1, compiler_options=YNNPACK_DOTS_ONLY).lower(np.float32(0)).compile()
    except Exception:  # an XLA without this (experimental) option: keep its defaults
        return {}
    return dict(YNNPACK_DOTS_ONLY)


def axis_grid(axes: dict, num_seeds: int) -> tuple[tuple[int, ...], dict]:
    """The product of named axes and seeds, flattened: (shape, {name: values per flat run}).

    Run j = (a_1, ..., a_m, s) in C order; the seed index is ``j % num_seeds``.
    """
    shape = tuple(len(np.asarray(v)) for v in axes.values())
    grids = np.meshgrid(*[np.asarray(v) for v in axes.values()], indexing="ij") if axes else []
    flat = {name: np.repeat(g.reshape(-1), num_seeds) for name, g in zip(axes, grids)}
    return shape, flat


def _check_axes(axes) -> dict:
    """Named 1-D, non-empty, numeric axes."""
    out = {}
    for name, values in dict(axes).items():
        v = np.asarray(values)
        if v.ndim != 1 or v.size == 0 or not np.issubdtype(v.dtype, np.number):
            raise ValueError(f"axis {name!r} must be a non-empty 1-D sequence of numbers, got {values!r}")
        out[str(name)] = v
    return out


@dataclass(frozen=True)
class Sweeper:
    """How an experiment's sweeps run: over which devices, and with which checkpoint policy.

    Passed explicitly to an experiment's ``run(config, key, sweeper)``; the default
    (all devices, nothing written) is what a library call gets. The application layer
    (``jaxopt_course.app``) makes one per run with a ``checkpoint.Policy``.
    """

    devices: Optional[tuple] = None
    checkpoint: Optional[checkpoint.Policy] = None

    def sweep(self, fn: Callable, keys: jax.Array, *args, axes: Optional[dict] = None,
              compiler_options: Optional[dict] = None):
        """``sweep`` on these devices with this checkpoint policy."""
        return sweep(fn, keys, *args, axes=axes, devices=self.devices, checkpoint=self.checkpoint,
                     compiler_options=compiler_options)

    def grid(self, fn: Callable, axes: dict, *args, compiler_options: Optional[dict] = None):
        """``grid`` on these devices."""
        return grid(fn, axes, *args, devices=self.devices, compiler_options=compiler_options)


def sweep(fn: Callable, keys: jax.Array, *args, axes: Optional[dict] = None, devices=None,
          checkpoint: Optional[checkpoint.Policy] = None, compiler_options: Optional[dict] = None):
    """``out[a_1, ..., a_m, s] = fn(keys[s], {name_i: axes[name_i][a_i]}, *args)``, in one vmapped, jit-compiled call.

    Without ``axes``, ``out[s] = fn(keys[s], *args)``. With named hyperparameter ``axes``
    (e.g. ``{"step_scale": [0.05, 0.1, 0.2]}``), ``fn`` receives a dict of scalars and
    the outputs gain one leading dimension per axis, in order, before the seed axis;
    every value of an axis sees the same seeds (common random numbers). The flattened
    runs are sharded over all (or the given) devices with a NamedSharding (a no-op on
    one device); their number need not divide the device count. ``args`` are shared by
    all runs. ``fn`` must be hashable (a function or ``functools.partial`` of one) so
    that the compiled program is reused. ``compiler_options`` are XLA options (e.g.
    ``small_reductions_options()``). With a ``checkpoint.Policy`` the runs are computed
    in chunks, each written to disk when complete and reused on resume.

    Examples:
        >>> import jax
        >>> from jaxopt_course import run
        >>> def noisy(key, hp):   # one seed's run with this cell's hyperparameters
        ...     return hp["scale"] * jax.random.normal(key)
        >>> out = run.sweep(noisy, run.seed_keys(0, 4), axes={"scale": [1.0, 2.0]})
        >>> out.shape   # (scales, seeds)
        (2, 4)
        >>> bool((out[1] == 2 * out[0]).all())   # every scale sees the same seeds
        True
    """
    if getattr(keys, "ndim", None) != 1 or not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        raise ValueError(f"keys must be a 1-D array of typed PRNG keys (run.seed_keys), got {keys!r:.80}")
    options = tuple(sorted((compiler_options or {}).items()))
    n = keys.shape[0]
    if axes is None:
        batch, shape, call = keys, (), fn
    else:
        axes = _check_axes(axes)
        shape, flat = axis_grid(axes, n)
        batch = (jnp.tile(keys, int(np.prod(shape))), flat)
        call = functools.partial(_with_axes, fn)
    compute = functools.partial(_sweep_now, call, args=args, devices=devices, options=options)
    runs = _batch_size(batch)
    with progress.task(f"sweep of {runs} runs", 1 if checkpoint is None else -(-runs // checkpoint.chunk_seeds)):
        out = compute(batch) if checkpoint is None else checkpoint.chunked_sweep(call, batch, args, compute)
        out = progress.wait(out)  # with a progress bar: until the runs end
    return jax.tree.map(lambda x: x.reshape(shape + (n,) + x.shape[1:]), out) if shape else out


def grid(fn: Callable, axes: dict, *args, devices=None, compiler_options: Optional[dict] = None):
    """``out[a_1, ..., a_m] = fn({name_i: axes[name_i][a_i]}, *args)`` for deterministic runs (no seeds).

    Examples:
        >>> from jaxopt_course import run
        >>> out = run.grid(lambda hp: hp["a"] * hp["b"], {"a": [1.0, 2.0], "b": [10.0, 20.0, 30.0]})
        >>> out.tolist()
        [[10.0, 20.0, 30.0], [20.0, 40.0, 60.0]]
    """
    out = sweep(functools.partial(_without_key, fn), seed_keys(0, 1), *args, axes=axes, devices=devices,
                compiler_options=compiler_options)
    m = len(axes)
    return jax.tree.map(lambda x: x.reshape(x.shape[:m] + x.shape[m + 1:]), out)


def _with_axes(fn, batch, *args):
    """fn(key, hp, *args) for one flattened run (key, hp)."""
    key, hp = batch
    return fn(key, hp, *args)


def _without_key(fn, key, hp, *args):
    """fn(hp, *args): a grid point of a deterministic run ignores its key."""
    del key
    return fn(hp, *args)


def _batch_size(batch) -> int:
    return jax.tree.leaves(batch)[0].shape[0]


_COMPILED: dict = {}  # (description of fn, ...) -> jitted function; see _cached
_MAX_COMPILED = 128


def _cached(make, fn, *rest):
    """make(fn, *rest), reused for any fn with the same description (an equal ``functools.partial`` made anew).

    Experiments build a new ``partial(trace_fn, config=...)`` per call; keying on its
    process-independent description (``checkpoint.describe``) rather than its identity
    lets a second identical sweep reuse the compiled program.
    """
    try:
        key = (checkpoint.describe(fn), *rest)
    except TypeError:  # not describable: fall back to identity
        key = (id(fn), fn, *rest)
    if key not in _COMPILED:
        if len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = make(fn, *rest)
    return _COMPILED[key]


def _vmapped(fn, num_args: int, options: tuple = ()):
    """jit(vmap(fn)) over the first argument only, compiled with XLA ``options`` (cached per description of fn)."""
    return _cached(_make_vmapped, fn, num_args, options)


def _make_vmapped(fn, num_args: int, options: tuple):
    return jax.jit(jax.vmap(fn, in_axes=(0,) + (None,) * num_args), compiler_options=dict(options) or None)


def _sweep_now(fn: Callable, batch, args: tuple, devices=None, options: tuple = ()):
    """One jit(vmap(fn)) call over the batch's leading axis, sharded over the devices."""
    mesh = seed_mesh(devices)
    n = _batch_size(batch)
    padded = jax.tree.map(lambda x: _pad_leading(x, mesh.size), batch)
    if jax.process_count() == 1:
        padded = jax.device_put(padded, NamedSharding(mesh, PartitionSpec("seeds")))
        out = _vmapped(fn, len(args), options)(padded, *args)
    else:
        out = _sweep_processes(fn, padded, args, mesh, options)
    return jax.tree.map(lambda x: x[:n], out)


def _sweep_processes(fn: Callable, batch, args: tuple, mesh: Mesh, options: tuple = ()):
    """The sweep over the devices of several processes: each computes its shard, then all gather."""
    from jax.experimental import multihost_utils

    keys, rest = (batch[0], batch[1]) if isinstance(batch, tuple) else (batch, None)
    impl = str(jax.random.key_impl(keys))
    host = (np.asarray(jax.random.key_data(keys)), jax.tree.map(np.asarray, rest))

    def global_array(data):
        sharding = NamedSharding(mesh, PartitionSpec("seeds", *([None] * (data.ndim - 1))))
        return jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])

    global_batch = jax.tree.map(global_array, host)
    shared = jax.tree.map(np.asarray, args)  # host values: replicated on every process
    out = _vmapped_key_data(fn, len(args), impl, rest is not None, options)(global_batch, *shared)
    return multihost_utils.process_allgather(out, tiled=True)


def _vmapped_key_data(fn, num_args: int, impl: str, with_axes: bool, options: tuple = ()):
    """jit(vmap(fn)) taking raw key data (global arrays of typed keys cannot be built from a callback)."""
    return _cached(_make_vmapped_key_data, fn, num_args, impl, with_axes, options)


def _make_vmapped_key_data(fn, num_args: int, impl: str, with_axes: bool, options: tuple):
    def from_data(batch, *args):
        key_data, rest = batch
        key = jax.random.wrap_key_data(key_data, impl=impl)
        return fn((key, rest) if with_axes else key, *args)

    return jax.jit(jax.vmap(from_data, in_axes=(0,) + (None,) * num_args), compiler_options=dict(options) or None)

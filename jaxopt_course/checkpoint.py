"""Resumable sweeps: completed chunks of seeds are written to disk as they finish.

While a policy is active (``with checkpointing(directory, resume=...)``; the CLI
activates one for every run), ``run.sweep`` splits its seeds into chunks of
``chunk_seeds``, computes them one after the other and writes each finished
chunk atomically as ``sweep<i>_chunk<j>.npz``, tagged with a fingerprint of the
computation (the function and its bound configuration, the keys, the shared
arguments). With ``resume=True`` a chunk whose file exists with the same
fingerprint is loaded instead of recomputed, so an interrupted run continues
from its last complete chunk and ends with the same numbers. A file whose
fingerprint differs means a different configuration: resuming is refused with
a ``ResumeMismatch`` rather than mixing results. Without a policy, sweeps run
in one call and nothing is written.

This is host-side input/output policy, not numerics: every sweep's result is a
pure function of its inputs whichever way it is chunked.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from jaxopt_course.progress import log
from jaxopt_course.results import save_npz


class ResumeMismatch(ValueError):
    """A checkpoint on disk was made by a different configuration."""


@dataclass
class Policy:
    """Where chunks go, whether to reuse them, and how many seeds a chunk holds."""

    directory: Path
    resume: bool = False
    chunk_seeds: int = 128
    calls: int = field(default=0)  # sweeps seen so far in this run: numbers the files


_ACTIVE: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("jaxopt_course_checkpoint", default=None)


@contextmanager
def checkpointing(directory: Path, *, resume: bool = False, chunk_seeds: int = 128):
    """Make every ``run.sweep`` in the block write (and, with ``resume``, reuse) its chunks."""
    if int(chunk_seeds) != chunk_seeds or chunk_seeds < 1:
        raise ValueError(f"chunk_seeds must be a positive integer, got {chunk_seeds!r}")
    directory = Path(directory)
    if jax.process_index() == 0:  # the one writer; other processes only read (on resume)
        if not resume and directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True, exist_ok=True)
    token = _ACTIVE.set(Policy(directory, resume, int(chunk_seeds)))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> Policy | None:
    """The policy in force, or None."""
    return _ACTIVE.get()


def describe(obj) -> str:
    """A description of a function that is the same in every process (no memory addresses)."""
    if isinstance(obj, functools.partial):
        args = ", ".join(describe(a) for a in obj.args)
        kwargs = ", ".join(f"{k}={describe(v)}" for k, v in sorted(obj.keywords.items()))
        return f"partial({describe(obj.func)}; {args}; {kwargs})"
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    return repr(obj)


def fingerprint(fn, keys: jax.Array, args: tuple) -> str:
    """SHA-256 of the computation: the function with its bound config, the key data, the args."""
    h = hashlib.sha256(describe(fn).encode())
    h.update(np.asarray(jax.random.key_data(keys)).tobytes())
    h.update(str(jax.tree.structure(args)).encode())
    for a in jax.tree.leaves(args):
        arr = np.asarray(a)
        h.update(str((arr.dtype, arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _load_chunk(path: Path, tag: str, treedef):
    """The chunk's outputs if ``path`` holds this computation's chunk; ResumeMismatch if another's."""
    with np.load(path) as f:
        if str(f["__fingerprint__"]) != tag:
            raise ResumeMismatch(
                f"{path} was written by a different configuration; rerun without --resume to start afresh")
        leaves = [f[f"leaf{i}"] for i in range(treedef.num_leaves)]
    return jax.tree.unflatten(treedef, leaves)


def chunked_sweep(policy: Policy, fn, keys: jax.Array, args: tuple, compute):
    """Outputs of ``compute(keys_chunk)`` for each chunk of seeds, saved (or reloaded) chunk by chunk."""
    index = policy.calls
    policy.calls += 1
    tag = fingerprint(fn, keys, args)
    n = keys.shape[0]
    size = min(policy.chunk_seeds, n)
    starts = range(0, n, size)
    outputs = []
    for j, start in enumerate(starts):
        path = policy.directory / f"sweep{index}_chunk{j}.npz"
        chunk_keys = keys[start:start + size]
        if policy.resume and path.exists():
            treedef = jax.tree.structure(jax.eval_shape(compute, chunk_keys))
            outputs.append(_load_chunk(path, tag, treedef))
            log(f"sweep {index}: chunk {j + 1}/{len(starts)} reused from {path.name}")
            continue
        out = jax.block_until_ready(_compute_padded(compute, chunk_keys, size))
        if jax.process_index() == 0:  # one writer; resuming several processes needs a shared file system
            leaves = {f"leaf{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(out))}
            save_npz(path, {"__fingerprint__": np.asarray(tag), **leaves})
        outputs.append(out)
        if len(starts) > 1:
            log(f"sweep {index}: chunk {j + 1}/{len(starts)} done ({start + chunk_keys.shape[0]}/{n} seeds)")
    if len(outputs) == 1:
        return outputs[0]
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *outputs)


def _compute_padded(compute, keys: jax.Array, size: int):
    """compute(keys) with the seed axis padded to ``size`` (one compiled shape for all chunks)."""
    m = keys.shape[0]
    if m == size:
        return compute(keys)
    padded = jax.numpy.concatenate([keys, jax.numpy.repeat(keys[-1:], size - m, axis=0)])
    return jax.tree.map(lambda x: x[:m], compute(padded))

"""Resumable sweeps: completed chunks of runs are written to disk as they finish.

A ``Policy`` (made by the application layer for every run and handed to the
experiment inside its ``run.Sweeper``) makes ``run.sweep`` split its runs (seeds, or
the flattened seeds x hyperparameter grid) into chunks of ``chunk_seeds``, compute
them one after the other and write each finished chunk atomically as
``sweep<i>_chunk<j>.npz``, tagged with a fingerprint of the computation (the
function and its bound configuration, the keys and hyperparameter values, the
shared arguments, the chunk size). With ``resume=True`` a chunk whose file exists
with the same fingerprint is loaded instead of recomputed, so an interrupted run
continues from its last complete chunk and ends with the same numbers. A file whose
fingerprint differs means a different configuration: resuming is refused with a
``ResumeMismatch`` rather than mixing results.

This is host-side input/output policy, not numerics: every sweep's result is a
pure function of its inputs whichever way it is chunked.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from jaxopt_course.progress import log, skip_pass
from jaxopt_course.results import save_npz


class ResumeMismatch(ValueError):
    """A checkpoint on disk was made by a different configuration."""


@dataclass(eq=False)
class Policy:
    """Where chunks go, whether to reuse them, and how many runs a chunk holds."""

    directory: Path
    resume: bool = False
    chunk_seeds: int = 128
    calls: int = field(default=0)  # sweeps seen so far in this run: numbers the files

    def __post_init__(self):
        if isinstance(self.chunk_seeds, bool) or int(self.chunk_seeds) != self.chunk_seeds or self.chunk_seeds < 1:
            raise ValueError(f"chunk_seeds must be a positive integer, got {self.chunk_seeds!r}")
        self.directory = Path(self.directory)
        self.chunk_seeds = int(self.chunk_seeds)

    def prepare(self) -> "Policy":
        """Create the directory (emptied unless resuming); only process 0 writes."""
        if jax.process_index() == 0:
            if not self.resume and self.directory.exists():
                shutil.rmtree(self.directory)
            self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def chunked_sweep(self, fn, batch, args: tuple, compute):
        """Outputs of ``compute(batch_chunk)`` for each chunk of runs, saved (or reloaded) chunk by chunk."""
        index = self.calls
        self.calls += 1
        n = jax.tree.leaves(batch)[0].shape[0]
        size = min(self.chunk_seeds, n)
        tag = fingerprint(fn, batch, args, size)
        starts = range(0, n, size)
        outputs = []
        for j, start in enumerate(starts):
            path = self.directory / f"sweep{index}_chunk{j}.npz"
            part = jax.tree.map(lambda x: x[start:start + size], batch)
            if self.resume and path.exists():
                # The shapes of the plain vmapped function: a jit with compiler options cannot be traced inside eval_shape.
                shapes = jax.eval_shape(jax.vmap(fn, in_axes=(0,) + (None,) * len(args)), part, *args)
                outputs.append(_load_chunk(path, tag, shapes))
                skip_pass()  # the progress bar expects one computed chunk less
                log(f"sweep {index}: chunk {j + 1}/{len(starts)} reused from {path.name}")
                continue
            out = jax.block_until_ready(_compute_padded(compute, part, size))
            if jax.process_index() == 0:  # one writer; resuming several processes needs a shared file system
                leaves = {f"leaf{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(out))}
                save_npz(path, {"__fingerprint__": np.asarray(tag), **leaves})
            outputs.append(out)
            if len(starts) > 1:
                done = start + jax.tree.leaves(part)[0].shape[0]
                log(f"sweep {index}: chunk {j + 1}/{len(starts)} done ({done}/{n} runs)")
        if len(outputs) == 1:
            return outputs[0]
        return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *outputs)


def describe(obj) -> str:
    """A description of a function and what it binds that is the same in every process (no memory addresses)."""
    if isinstance(obj, functools.partial):
        args = ", ".join(describe(a) for a in obj.args)
        kwargs = ", ".join(f"{k}={describe(v)}" for k, v in sorted(obj.keywords.items()))
        return f"partial({describe(obj.func)}; {args}; {kwargs})"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        inner = ", ".join(f"{f.name}={describe(getattr(obj, f.name))}" for f in dataclasses.fields(obj))
        return f"{type(obj).__qualname__}({inner})"
    if isinstance(obj, (tuple, list)):
        return "(" + ", ".join(describe(v) for v in obj) + ")"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, (str, bytes, int, float, complex, bool, type(None))):
        return repr(obj)
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        arr = np.asarray(obj)
        return f"array({arr.dtype}, {arr.shape}, {hashlib.sha256(arr.tobytes()).hexdigest()[:16]})"
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    text = repr(obj)
    if " at 0x" in text:
        raise TypeError(f"cannot fingerprint {type(obj).__qualname__}: its repr holds a memory address")
    return text


def _host(leaf) -> np.ndarray:
    """A batch or argument leaf as host data (typed keys as their raw key data)."""
    if hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(leaf))
    return np.asarray(leaf)


def fingerprint(fn, batch, args: tuple, chunk_size: int) -> str:
    """SHA-256 of the computation: the function with its bound config, the runs' keys and values, the args, the chunk size."""
    h = hashlib.sha256(describe(fn).encode())
    h.update(f"chunk={chunk_size};".encode())
    for part in (batch, args):
        h.update(str(jax.tree.structure(part)).encode())
        for a in jax.tree.leaves(part):
            arr = _host(a)
            h.update(str((arr.dtype, arr.shape)).encode())
            h.update(arr.tobytes())
    return h.hexdigest()


def _load_chunk(path: Path, tag: str, shapes):
    """The chunk's outputs if ``path`` holds this computation's chunk (same fingerprint and shapes); ResumeMismatch else."""
    fresh = "; rerun without --resume to start afresh"
    treedef = jax.tree.structure(shapes)
    try:
        with open(path, "rb") as handle, np.load(handle) as f:  # our handle: closed even if np.load fails
            if str(f["__fingerprint__"]) != tag:
                raise ResumeMismatch(f"{path} was written by a different configuration{fresh}")
            leaves = [f[f"leaf{i}"] for i in range(treedef.num_leaves)]
    except ResumeMismatch:
        raise
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ResumeMismatch(f"{path} is damaged ({type(err).__name__}){fresh}") from None
    for leaf, shape in zip(leaves, jax.tree.leaves(shapes)):
        if leaf.shape != shape.shape or leaf.dtype != shape.dtype:
            raise ResumeMismatch(f"{path} holds arrays of shape {leaf.shape}, expected {shape.shape}{fresh}")
    return jax.tree.unflatten(treedef, leaves)


def _compute_padded(compute, batch, size: int):
    """compute(batch) with the run axis padded to ``size`` (one compiled shape for all chunks)."""
    m = jax.tree.leaves(batch)[0].shape[0]
    if m == size:
        return compute(batch)
    jnp = jax.numpy
    padded = jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], size - m, axis=0)]), batch)
    return jax.tree.map(lambda x: x[:m], compute(padded))

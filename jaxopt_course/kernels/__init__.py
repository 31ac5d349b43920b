"""Compiled CPU kernels, called from jit-compiled code through the XLA FFI.

XLA:CPU has no product kernel that reads a matrix once for both ``S V`` and
``S^T R`` (or even once for a handful of columns of V: its 5-column products ran at
63-74 GFLOP/s, measured). The course's matrix-sensing step is exactly that, so
``residual_adjoint.cc`` does it in one pass over S (see ``residual_adjoint``).

A kernel is built with the machine's C++ compiler (``$CXX``, else g++, else c++)
on first use, for this CPU (``-O3 -march=native``, about 3 s), against the FFI
headers of the installed jaxlib, and cached under ``<cache>/kernels/<key>`` where
the key hashes the source, the flags, the compiler, jaxlib and the CPU's features.
Where no compiler works, or with ``JAXOPT_COURSE_KERNELS=0``, ``available()`` is
False, ``unavailable_reason()`` says why, and callers take their XLA paths.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib

from jaxopt_course.cache import cache_dir
from jaxopt_course.progress import log

DISABLE_ENV = "JAXOPT_COURSE_KERNELS"  # "0" turns every compiled kernel off
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC")
SOURCE = Path(__file__).with_name("residual_adjoint.cc")
TARGET = "jaxopt_course_residual_adjoint"  # the handler symbol, also the FFI target name


def _compiler() -> str | None:
    """$CXX, else g++, else c++ on the PATH (None if none)."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _cpu_features() -> str:
    """The CPU's feature flags (from /proc/cpuinfo), which -march=native compiles for."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _build_key(compiler: str) -> str:
    """Hash of everything the built library depends on."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout
    parts = (SOURCE.read_bytes().decode(), " ".join(FLAGS), version, jaxlib.__version__, platform.machine(),
             _cpu_features())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _build(compiler: str, library: Path) -> None:
    """Compile SOURCE into ``library`` (written to a temporary file, then renamed)."""
    library.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=library.parent)
    os.close(fd)
    command = [compiler, *FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", tmp]
    log(f"compiling {SOURCE.name} for this CPU (once, cached in {library.parent})")
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OSError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        os.replace(tmp, library)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@functools.lru_cache(maxsize=None)
def _load() -> tuple[bool, str]:
    """Build (if not cached), load and register the kernel: (True, path) or (False, why not)."""
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return False, f"compiled kernels are turned off ({DISABLE_ENV}=0)"
    compiler = _compiler()
    if compiler is None:
        return False, "no C++ compiler found (set CXX, or install g++)"
    try:
        library = cache_dir() / "kernels" / _build_key(compiler) / "residual_adjoint.so"
        if not library.exists():
            _build(compiler, library)
        handler = getattr(ctypes.cdll.LoadLibrary(str(library)), TARGET)
    except (OSError, AttributeError, subprocess.SubprocessError) as err:
        return False, f"the kernel could not be built or loaded: {err}"
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(handler), platform="cpu")
    return True, str(library)


def available() -> bool:
    """Whether the compiled residual-adjoint kernel is built and registered (building it if needed)."""
    return _load()[0]


def unavailable_reason() -> str:
    """Why the kernel is not available ('' when it is)."""
    ok, detail = _load()
    return "" if ok else detail


def residual_adjoint(S: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
    """g = sum_i (S_i . v - y_i) S_i = S^T (S v - y) in one pass over S (float32, CPU).

    Shapes: S (m, n), y (m,), v (n,). Under ``jax.vmap`` the kernel gets the batched
    arguments with their batch axes and the others with axes of size 1, and reads S
    once for all right-hand sides that share it (the alpha sweep). Differentiable:
    the tangent ``S^T (S dv - dy) + dS^T (S v - y) + S^T (dS v)`` is formed by XLA.
    """
    if not available():
        raise RuntimeError(f"the compiled kernel is not available: {unavailable_reason()}")
    if S.ndim != 2 or y.shape != S.shape[:1] or v.shape != S.shape[1:]:
        raise ValueError(f"expected S (m, n), y (m,), v (n,), got {S.shape}, {y.shape}, {v.shape}")
    if not all(a.dtype == jnp.float32 for a in (S, y, v)):
        raise TypeError(f"the kernel is float32 only, got {S.dtype}, {y.dtype}, {v.dtype}")
    return _residual_adjoint(S, y, v)


@jax.custom_jvp
def _residual_adjoint(S: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
    """S^T (S v - y) by the compiled kernel."""
    call = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(v.shape, jnp.float32), vmap_method="expand_dims")
    return call(S, v, y)


def _residual_adjoint_jvp(primals, tangents):
    """d[S^T (S v - y)] = S^T (S dv - dy) + dS^T (S v - y) + S^T (dS v), zero tangents skipped."""
    S, y, v = primals
    dS, dy, dv = (None if isinstance(t, jax.custom_derivatives.SymbolicZero) else t for t in tangents)
    dot = functools.partial(jnp.dot, precision=jax.lax.Precision.HIGHEST)
    inner = jnp.zeros_like(y)  # the tangent of the residual S v - y
    if dv is not None:
        inner = inner + dot(S, dv)
    if dy is not None:
        inner = inner - dy
    if dS is not None:
        inner = inner + dot(dS, v)
    tangent = dot(inner, S)
    if dS is not None:
        tangent = tangent + dot(dot(S, v) - y, dS)
    return _residual_adjoint(S, y, v), tangent


_residual_adjoint.defjvp(_residual_adjoint_jvp, symbolic_zeros=True)

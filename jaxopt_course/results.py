"""Results on disk: atomic writes (temp file + rename) of JSON, NPZ and figures."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_jsonable(obj: Any) -> Any:
    """Arrays -> lists, NumPy/JAX scalars -> Python numbers, non-finite floats -> None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        return to_jsonable(arr.tolist()) if arr.ndim else to_jsonable(arr.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if callable(obj):
        return getattr(obj, "__name__", repr(obj))
    raise TypeError(f"cannot store {type(obj).__name__} in JSON")


def write_json(path: Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, strictly valid JSON (no NaN literals)."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False, sort_keys=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def save_npz(path: Path, arrays) -> Path:
    """Atomically write a dict of arrays (or an xarray Dataset) as a compressed ``.npz``."""
    if not isinstance(arrays, dict):
        arrays = dataset_arrays(arrays)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` read at once, the file closed (an open NpzFile leaks its handle until collected)."""
    with open(path, "rb") as fh, np.load(fh) as f:  # our handle: np.load leaks its own on a damaged zip
        return {name: f[name] for name in f.files}


def versions() -> dict:
    """Versions of Python and of the numerical stack, for reproducibility records."""
    import jax
    import jaxlib
    import optax

    import jaxopt_course

    out = {
        "python": platform.python_version(),
        "jaxopt_course": jaxopt_course.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
    }
    try:
        import flax

        out["flax"] = flax.__version__
    except ImportError:
        pass
    return out


LAYOUT_KEY = "__layout__"  # JSON: every variable's and coordinate's dimension names, and the attributes


def dataset_arrays(ds) -> dict[str, np.ndarray]:
    """An xarray Dataset as plain arrays plus a JSON layout (readable with NumPy alone)."""
    layout = {"data_vars": {n: list(v.dims) for n, v in ds.data_vars.items()},
              "coords": {n: list(c.dims) for n, c in ds.coords.items()},
              "attrs": to_jsonable(ds.attrs)}
    arrays = {f"coord:{n}": np.asarray(c.values) for n, c in ds.coords.items()}
    arrays.update({n: np.asarray(v.values) for n, v in ds.data_vars.items()})
    arrays[LAYOUT_KEY] = np.asarray(json.dumps(layout))
    return arrays


def save_dataset(path: Path, ds) -> Path:
    """Atomically write an xarray Dataset as ``.npz``: arrays by name, coordinates as ``coord:NAME``, a layout."""
    return save_npz(path, dataset_arrays(ds))


def load_dataset(path: Path):
    """The xarray Dataset written by ``save_dataset``."""
    import xarray as xr

    arrays = load_npz(path)
    layout = json.loads(str(arrays.pop(LAYOUT_KEY)))
    coords = {n: (dims, arrays[f"coord:{n}"]) for n, dims in layout["coords"].items()}
    data_vars = {n: (dims, arrays[n]) for n, dims in layout["data_vars"].items()}
    return xr.Dataset(data_vars, coords=coords, attrs=layout["attrs"])

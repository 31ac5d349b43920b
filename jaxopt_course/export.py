"""Every result under a directory as one tidy table (pandas): one row per recorded value.

Columns: ``experiment``, ``config_hash`` (of the run's config fields, base seed and
precision: two runs share it only if they computed the same numbers), the swept
fields (the data's coordinates other than seed and step, e.g. a vmapped ``lr``, and
the config fields that differ between an experiment's runs, e.g. a looped sweep),
``seed``, ``step``, ``metric`` (the data variable) and ``value``. The rows come from
each run's ``data.npz`` (``results.load_dataset``), flattened by xarray's
``to_dataframe``; ``jaxopt-course export`` writes them as CSV or Parquet.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from jaxopt_course.results import atomic_write_bytes, load_dataset

FORMATS = ("csv", "parquet")
FIRST = ["experiment", "config_hash"]
LAST = ["seed", "step", "metric", "value"]


def find_runs(directory: Path) -> list[Path]:
    """The run folders under ``directory`` (itself included): those holding a results.json, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    runs = sorted(p.parent for p in directory.rglob("results.json")
                  if not any(part.startswith(".") for part in p.relative_to(directory).parts))  # not .chunks
    if not runs:
        raise ValueError(f"no results.json under {directory} (run 'jaxopt-course run ID --out {directory}' first)")
    return runs


def config_hash(record: dict) -> str:
    """First 12 hex digits of SHA-256 over the canonical JSON of (config, base seed, x64)."""
    what = {"config": record.get("config"), "seed": record.get("seed"), "x64": record.get("x64")}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


def _read(run: Path) -> tuple[dict, object]:
    """(results.json, the Dataset of data.npz) of one run; ValueError naming the file if either is unreadable."""
    try:
        record = json.loads((run / "results.json").read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {run / 'results.json'}: {err}") from None
    try:
        data = load_dataset(run / "data.npz")
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"cannot read {run / 'data.npz'}: {err}") from None
    return record, data


def run_table(record: dict, data, fixed: dict) -> pd.DataFrame:
    """One run's rows: every numeric data variable by ``to_dataframe``, its coordinates as columns."""
    frames = []
    for name, var in data.data_vars.items():
        if not (np.issubdtype(var.dtype, np.number) or np.issubdtype(var.dtype, np.bool_)):
            continue  # labels, not recorded values
        frame = var.astype(float).to_dataframe(name="value").reset_index()
        frame["metric"] = name
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["metric", "value"])
    table.insert(0, "experiment", record.get("id", "?"))
    table.insert(1, "config_hash", config_hash(record))
    for i, (field, value) in enumerate(fixed.items()):
        if field not in table.columns:
            table.insert(2 + i, field, _cell(value))
    return table


def _cell(value):
    """A config value as a table cell: numbers and strings as they are, lists as JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def varying_fields(records: list[dict]) -> set[str]:
    """Config fields whose values differ between these runs (of one experiment)."""
    configs = [r.get("config") or {} for r in records]
    names = set().union(*configs) if configs else set()
    return {n for n in names if len({json.dumps(c.get(n), sort_keys=True) for c in configs}) > 1}


def tidy(directory: Path) -> pd.DataFrame:
    """All runs under ``directory`` as one tidy table (columns in the order of the module docstring)."""
    runs = [(path, *_read(path)) for path in find_runs(directory)]
    by_id: dict[str, list[dict]] = {}
    for _, record, _ in runs:
        by_id.setdefault(record.get("id", "?"), []).append(record)
    varying = {exp: varying_fields(records) for exp, records in by_id.items()}
    tables = [run_table(record, data, {f: record["config"][f] for f in sorted(varying[record.get("id", "?")])})
              for _, record, data in runs]
    table = pd.concat(tables, ignore_index=True)
    for column in ("seed", "step"):
        if column not in table.columns:
            table[column] = pd.NA
        table[column] = table[column].astype("Int64")
    swept = [c for c in table.columns if c not in FIRST + LAST]
    for column in swept:  # a column mixing strings and numbers (two experiments) is stored as text
        if table[column].dtype == object:
            table[column] = table[column].map(lambda v: v if v is None or v is pd.NA or isinstance(v, str)
                                              or (isinstance(v, float) and np.isnan(v)) else str(v))
    return table[FIRST + swept + LAST]


def write(table: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write ``table`` as CSV or Parquet (pyarrow) to ``path`` via a temp file and a rename."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "csv":
        return atomic_write_bytes(path, table.to_csv(index=False).encode())
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError("--format parquet needs pyarrow (pip install 'jaxopt_course[export]')") from None
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    return atomic_write_bytes(path, buffer.getvalue())

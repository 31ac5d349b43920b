"""Progress on stderr: one-line log messages and tqdm bars over host-side loops."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from tqdm.auto import tqdm


def log(message: str) -> None:
    """Print ``[jaxopt-course] message`` on stderr."""
    print(f"[jaxopt-course] {message}", file=sys.stderr, flush=True)


@contextmanager
def timed(message: str):
    """Log ``message ...`` on entry and ``message: done in X s`` on exit."""
    log(f"{message} ...")
    start = time.perf_counter()
    yield
    log(f"{message}: done in {time.perf_counter() - start:.2f} s")


def bar(iterable, desc: str, total: int | None = None):
    """A tqdm progress bar on stderr (plain lines when stderr is not a terminal)."""
    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, mininterval=1.0,
                disable=None if sys.stderr.isatty() else False, dynamic_ncols=True)

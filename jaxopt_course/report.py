"""The report: every experiment run (or reused from disk) into one self-contained
HTML page, grouped by the SPEC's sections, with each figure, its caption and the
key metrics in tables; plus a Markdown twin that links the figure files."""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass
from pathlib import Path

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


def _figure_html(entry: Entry, name: str) -> str:
    """An embedded figure (PNG as a data URI) with its caption."""
    png = (entry.directory / name).read_bytes()
    stem = Path(name).stem
    caption = entry.experiment.captions.get(stem, "")
    src = "data:image/png;base64," + base64.b64encode(png).decode()
    return (f'<figure><img src="{src}" alt="{html.escape(entry.experiment.id)}: {html.escape(stem)}">'
            f"<figcaption><b>{html.escape(stem)}</b>. {html.escape(caption)}</figcaption></figure>")


def _metrics_html(rows: list[tuple[str, str]]) -> str:
    """The key metrics as an HTML table (first MAX_METRIC_ROWS rows)."""
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows[:MAX_METRIC_ROWS])
    more = len(rows) - MAX_METRIC_ROWS
    tail = f'<p class="more">{more} more metrics in results.json.</p>' if more > 0 else ""
    return f"<table><tr><th>metric</th><th>value</th></tr>{body}</table>{tail}"


def _entry_html(entry: Entry) -> str:
    """One experiment: heading, run facts, divergences, figures, metrics."""
    r, e = entry.record, entry.experiment
    facts = (f"{'quick' if r['quick'] else 'full'} run, seed {r['seed']}, "
             f"{'float64' if r['x64'] else 'float32 default'}, {r['wall_time_s']:.1f} s on {len(r['devices'])} "
             f"device(s){', reused from disk' if entry.reused else ''}")
    diverged = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in r.get("diverged", {}).items())
    parts = [f'<section id="{e.id}"><h3>{e.id}: {html.escape(e.description)}</h3>',
             f'<p class="facts">{html.escape(facts)}</p>']
    if diverged:
        parts.append(f'<p>Diverged runs:</p><ul class="diverged">{diverged}</ul>')
    parts += [_figure_html(entry, f) for f in r["figures"]]
    parts += [_metrics_html(flatten_metrics(r["metrics"])), "</section>"]
    return "\n".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 8px;
text-align:left}td:last-child{font-family:monospace}.facts,.more{color:#666;font-size:.85em}
.diverged{color:#a00}nav a{margin-right:1em}#image-check{color:#666;font-size:.85em}"""

IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var el = document.getElementById("image-check");
  el.dataset.loaded = ok; el.dataset.total = imgs.length;
  el.textContent = ok + " of " + imgs.length + " figures loaded";
});
</script>"""


def render_html(entries: list[Entry], title: str, build_seconds: float) -> str:
    """The whole self-contained page."""
    body, nav = [], []
    for key, name in SECTIONS.items():
        group = [e for e in entries if e.experiment.section == key]
        if group:
            nav.append(f'<a href="#section-{key}">{key}. {html.escape(name)}</a>')
            body.append(f'<h2 id="section-{key}">{key}. {html.escape(name)}</h2>')
            body.extend(_entry_html(e) for e in group)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{len(entries)} experiments; report built in {build_seconds:.0f} s. "
            f'<span id="image-check">figures not checked (JavaScript off)</span></p>'
            f"<nav>{''.join(nav)}</nav>{''.join(body)}{IMAGE_CHECK}</body></html>")


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

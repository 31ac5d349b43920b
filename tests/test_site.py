"""The documentation site (mkdocs.yml): it builds in strict mode, covers every public module,
and its pages have no broken link, anchor or image: checked by parsing the built HTML,
and in headless Chromium (where installed) by loading the home page and an API page.

Building takes several seconds, so these tests are marked slow; ``.ci/run`` runs them
in a step of its own after ``mkdocs build --strict``.
"""

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from jaxopt_course import report

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Recorded by a script put first in <head>: resources that failed to load, script errors,
# and after the load event images and stylesheets that did not arrive.
CHECK_SCRIPT = """<script>
window.__failed = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__failed.push(t && t !== window ? (t.src || t.href || t.tagName) : "script error: " + e.message);
}, true);
window.addEventListener("load", function () {
  var images = Array.from(document.images), sheets = Array.from(document.querySelectorAll("link[rel=stylesheet]"));
  var failed = window.__failed
    .concat(images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.src; }))
    .concat(sheets.filter(function (l) { return !l.sheet; }).map(function (l) { return l.href; }));
  var out = document.createElement("div");
  out.id = "site-check";
  out.setAttribute("data-result", JSON.stringify({failed: failed, images: images.length, sheets: sheets.length,
                                                    title: document.title}));
  document.body.appendChild(out);
});
</script>"""


class _Refs(html.parser.HTMLParser):
    """Every href/src of a page, and every id it defines."""

    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.refs.append((tag, value))
            if name == "id" and value:
                self.ids.add(value)


def _parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the site needs the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the site needs the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_site_has_home_guides_and_api_pages(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "The command line" in home and "The library" in home  # the README is the home page
    for guide in ("catalogue", "least_squares", "nonconvex", "networks", "matrix_sensing", "regression",
                  "classification"):
        assert (site / f"{guide}.html").is_file(), guide
        assert f'href="{guide}.html"' in home  # the README's docs/ links, made relative
    problems = (site / "api" / "problems.html").read_text(encoding="utf-8")
    assert 'id="jaxopt_course.problems.least_squares.smoothness"' in problems
    assert "2/N ||X^T X||_2" in problems.replace("&#124;", "|")  # the math from the docstring
    assert "from y_i = &lt;A_i, X*&gt;, i &lt; m." in problems  # plain-text math, not Markdown (mkdocs_hooks.py)
    assert "<em>" not in problems.split('id="jaxopt_course.problems.matrix_sensing"')[1].split("</p>")[0]


def test_every_public_module_has_a_reference_section(site):
    import mkdocs_hooks  # the site's hooks (mkdocs.yml): modules left out of docs/api/ get a page of their own

    ids = set().union(*(_parse(p).ids for p in (site / "api").glob("*.html")))
    packages = {"jaxopt_course", "jaxopt_course.optim", "jaxopt_course.problems", "jaxopt_course.models",
                "jaxopt_course.data"}  # their __init__ only re-exports
    missing = [m for m in mkdocs_hooks.public_modules(ROOT / "jaxopt_course") if m not in ids | packages]
    assert not missing, f"modules without a section on the site: {missing}"
    assert 'id="jaxopt_course.experiments.least_squares.p3_sgd"' in (site / "api" / "experiments.html").read_text()


def test_no_broken_link_anchor_or_image(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15
    parsed = {p: _parse(p) for p in pages}
    broken = []
    for page, refs in parsed.items():
        for tag, ref in refs.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("mailto:", "data:", "javascript:")):
                continue
            base = site if parts.path.startswith("/") else page.parent  # 404.html links from the site's root
            target = page if not parts.path else (base / unquote(parts.path).lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: <{tag}> {ref} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: <{tag}> {ref} (no such anchor)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", ["index.html", "api/optim.html"])
def test_page_loads_in_a_real_browser(site, page, tmp_path):
    browser = report.find_browser()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    source = site / page
    checked = source.with_name(source.stem + ".check.html")  # beside it: the same relative links
    checked.write_text(re.sub(r"<head>", "<head>" + CHECK_SCRIPT, source.read_text(encoding="utf-8"), count=1),
                       encoding="utf-8")
    cmd = [browser, *report.CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=10000", "--dump-dom", checked.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'id="site-check" data-result="([^"]*)"', dom)
    assert found, "the page's check did not run (JavaScript or the load event failed)"
    result = json.loads(html.unescape(found.group(1)))
    # The site requests nothing from the network except, from file:// only, Material's shim for its
    # search worker (unpkg.com), out of reach in CI: what must load is the site's own files.
    local_failures = [f for f in result["failed"] if not re.match(r"https?://", f)]
    assert local_failures == [], result
    assert result["sheets"] >= 1 and "jaxopt_course" in result["title"], result
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)

"""The HTML/Markdown report: content, reuse of results on disk, and a real browser check."""

import re

import pytest

from jaxopt_course import cli, report

ARGS = ["report", "--quick", "--only", "P1", "G4"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert cli.main(ARGS + ["--out", str(out)]) == 0
    return out


def test_report_has_sections_figures_and_metrics(built):
    page = (built / "report.html").read_text()
    assert "P. Polynomial least squares" in page and "G. What gradient descent can get wrong" in page
    figures = re.findall(r'<img src="data:image/png;base64,', page)
    assert len(figures) == 2  # self-contained: one embedded PNG per figure of P1 and G4
    assert "beta.degree=9" in page and "3.609" in page  # P1's metrics table: beta for n = 9
    assert "minimum-norm polynomial interpolates" in page  # P1's caption
    md = (built / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (built / link).exists(), link


def test_report_reuses_complete_results(built, capsys):
    before = (built / "P1" / "results.json").stat().st_mtime_ns
    assert cli.main(ARGS + ["--out", str(built)]) == 0
    assert capsys.readouterr().err.count("reusing") == 2
    assert (built / "P1" / "results.json").stat().st_mtime_ns == before


def test_report_reruns_when_config_differs(tmp_path, capsys):
    assert cli.main(["report", "--quick", "--only", "P1", "--out", str(tmp_path)]) == 0
    assert cli.main(["report", "--only", "P1", "--seed", "3", "--out", str(tmp_path)]) == 0  # another seed
    assert "reusing" not in capsys.readouterr().err


def test_report_loads_in_a_real_browser(built, tmp_path):
    if report.find_browser() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    loaded, total = report.check_in_browser(built / "report.html", tmp_path / "profile1")
    assert (loaded, total) == (2, 2)
    png = report.screenshot(built / "report.html", tmp_path / "report.png", tmp_path / "profile2")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_report_unknown_id_exits_2(tmp_path, capsys):
    assert cli.main(["report", "--only", "Q7", "--out", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_page_template_is_package_data_and_escapes(tmp_path):
    import types
    from importlib import resources

    assert resources.files("jaxopt_course").joinpath("templates/report.html.j2").is_file()
    (tmp_path / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    exp = types.SimpleNamespace(id="P1", description="a <script> & 'b'", section="P", captions={"fig": "x < y"})
    record = {"quick": True, "seed": 0, "x64": False, "wall_time_s": 1.0, "devices": ["cpu"],
              "diverged": {"lr=1": "diverged at step 3"}, "figures": ["fig.png"],
              "metrics": {f"m{i}": float(i) for i in range(report.MAX_METRIC_ROWS + 5)}}
    page = report.render_html([report.Entry(exp, record, tmp_path, False)], "T & U", 3.2)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>")
    assert "<title>T &amp; U</title>" in page and "a &lt;script&gt; &amp; " in page and "<script>" in page
    assert page.count("<tr><td>m") == report.MAX_METRIC_ROWS and "5 more metrics in results.json." in page
    assert "<li>lr=1: diverged at step 3</li>" in page and "x &lt; y" in page
    assert page.count('<img src="data:image/png;base64,iVBORw0KGgo="') == 1

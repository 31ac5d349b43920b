"""The notebooks in examples/: one per SPEC section of the catalogue, each runs top to bottom.

The notebooks are jupytext percent-format ``.py`` files (the source of truth, no outputs
committed); each is converted with jupytext and executed in a fresh Jupyter kernel with
nbclient, so an API change that breaks one fails here. Running them all takes a minute or
two, so they are marked slow; ``.ci/run`` runs them in a step of their own.
"""

import re
from pathlib import Path

import pytest

from jaxopt_course import experiments

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("[a-z]_*.py"))


def _section(path: Path) -> str:
    """The SPEC section letter a notebook covers: its file name's first letter (p_least_squares.py -> P)."""
    return path.name[0].upper()


def test_one_notebook_per_section():
    sections = {re.match(r"[A-Z]+", e.id).group(0) for e in experiments.all_experiments()}
    covered = [_section(p) for p in NOTEBOOKS]
    missing = sorted(sections - set(covered))
    assert not missing, f"no notebook in examples/ for section(s) {missing}: add examples/<letter>_<topic>.py"
    assert sorted(covered) == sorted(set(covered)) and set(covered) <= sections, covered


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_source_has_no_outputs(path):
    jupytext = pytest.importorskip("jupytext", reason="pip install -e '.[test]' installs jupytext")
    nb = jupytext.read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {_section(path)}. ")
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    jupytext = pytest.importorskip("jupytext", reason="pip install -e '.[test]' installs jupytext")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' installs nbclient")
    nb = jupytext.read(path)
    # Raises CellExecutionError, with the failing cell and its traceback, if any cell fails.
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, "the notebook drew no figure (inline backend lost?)"
    assert not [o for o in outputs if o.output_type == "error"]

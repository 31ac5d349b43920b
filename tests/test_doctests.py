"""The runnable examples in the package's docstrings (``>>>``), run as doctests.

Only modules whose source has an example are imported, so this costs about the examples
themselves; ``python -m pytest --doctest-modules jaxopt_course`` runs the same examples.
"""

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxopt_course"
MODULES = sorted(
    ".".join(("jaxopt_course", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py") if ">>> " in p.read_text(encoding="utf-8") and p.name != "__main__.py"
)


def test_the_public_api_has_examples():
    assert {"jaxopt_course.optim.alias", "jaxopt_course.sweeps", "jaxopt_course.run"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert tests, f"{name} has '>>> ' in its source but no docstring example"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (output above)"

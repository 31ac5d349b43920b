"""Every `jaxopt-course run/show/list` example in README.md and docs/*.md works as written.

``run`` examples are checked with ``--dry-run`` (their configs are built and checked,
nothing is computed); ``show`` and ``list`` run for real.
"""

import re
import shlex
from pathlib import Path

import pytest

from jaxopt_course import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _examples() -> list[tuple[str, str]]:
    """(page name, command) for every jaxopt-course command inside a fenced code block."""
    found = []
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.splitlines():
                line = line.split(" #")[0].strip()
                match = re.search(r"(?:^|\s)jaxopt-course\s+(run|show|list)\b(.*)$", line)
                if match and "\\" not in line and not line.startswith(("XLA_", "JAXOPT_")):
                    found.append((page.name, f"{match.group(1)}{match.group(2)}"))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples_of_set_sweep_and_show():
    commands = " ".join(c for _, c in EXAMPLES)
    assert "--set " in commands and "--sweep " in commands and "show " in commands


@pytest.mark.parametrize("page, command", EXAMPLES, ids=[f"{p}: {c}" for p, c in EXAMPLES])
def test_example_works(page, command, capsys):
    argv = shlex.split(command)
    if argv[0] == "run":
        argv = argv + ["--dry-run"]  # nothing is computed or written
    assert cli.main(argv) == 0, capsys.readouterr().err

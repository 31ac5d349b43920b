"""MkDocs hook: the README is the site's home page (index.md), with its ``docs/...`` links made relative."""

from __future__ import annotations

import re
from pathlib import Path

import griffe
from mkdocs.structure.files import File


def readme_as_index(readme: str) -> str:
    """The README's Markdown with links into docs/ rewritten relative to docs/ (``](docs/x.md)`` -> ``](x.md)``)."""
    return re.sub(r"\]\(docs/", "](", readme)


def on_files(files, config):
    """Add the README as index.md (generated; the README stays the one source)."""
    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, "index.md", content=readme_as_index(readme.read_text(encoding="utf-8"))))
    return files


# ----------------------------------------------------------------------------- docstrings as plain-text math

SECTION = re.compile(r"(Args|Arguments|Parameters|Returns|Yields|Raises|Attributes|Examples?|Notes?|References?"
                     r"|Warns|Warnings):\s*$")
CODE_SPAN = re.compile(r"(``.*?``|`[^`]*`|(?<![\w*])\*[A-Za-z][^*\n]*?[A-Za-z.]\*(?![\w*]))")  # code, *emphasis*
EMPHASIS = re.compile(r"\*|(?<=\W)_|_(?=\W)|(?<=^)_|<(?=[A-Za-z/!])")  # and <A_i, X*> is no HTML tag


def _escaped(match: re.Match) -> str:
    """``\\*``, ``\\_``, or ``&lt;`` (Markdown has no escape for ``<``)."""
    return "&lt;" if match.group(0) == "<" else "\\" + match.group(0)


def escape_math(docstring: str) -> str:
    """The docstring with Markdown's emphasis and tag characters escaped in its prose (``X*``, ``)_{``, ``<A_i, X>``).

    The docstrings write math as plain text, where ``*`` means a product or an optimum; code
    spans, ``*emphasized words*``, doctest examples and indented code blocks are left as they are.
    """
    out, section, code, previous_blank = [], None, False, True
    for line in docstring.splitlines():
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if indent == 0 and stripped:
            section = SECTION.match(stripped).group(1) if SECTION.match(stripped) else None
        if stripped.startswith(">>>"):
            code = True
        elif not stripped:
            code = False
        elif section is None and indent >= 4 and previous_blank:
            code = True  # an indented code block
        previous_blank = not stripped
        skip = code or (section or "").startswith("Example") or (section is None and indent >= 4)
        out.append(line if skip else "".join(
            part if CODE_SPAN.fullmatch(part) else EMPHASIS.sub(_escaped, part)
            for part in CODE_SPAN.split(line)))
    return "\n".join(out)


class PlainTextMath(griffe.Extension):
    """Griffe extension: every docstring through ``escape_math`` before mkdocstrings renders it."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = escape_math(obj.docstring.value)

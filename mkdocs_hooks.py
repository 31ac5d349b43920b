"""MkDocs hooks: the README is the site's home page (index.md), with its ``docs/...`` links made relative;
pages of docs/ missing from the nav join its Guides; docstrings' plain-text math is kept from Markdown."""

from __future__ import annotations

import re
from pathlib import Path

import griffe
from mkdocs.structure.files import File


def readme_as_index(readme: str) -> str:
    """The README's Markdown with links into docs/ rewritten relative to docs/ (``](docs/x.md)`` -> ``](x.md)``)."""
    return re.sub(r"\]\(docs/", "](", readme)


def _nav_paths(nav) -> list[str]:
    """Every page path named in a nav tree (lists of strings and {title: subtree} dicts)."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_paths(v)]
    return [p for item in nav or [] for p in _nav_paths(item)]


def _section(config, title: str):
    """The list under the nav's top-level entry ``title``, or None."""
    return next((item[title] for item in config["nav"] if isinstance(item, dict) and title in item), None)


def public_modules(package: Path) -> list[str]:
    """Dotted names of the package's public modules, less the catalogue's entries (experiments/<section>/*)."""
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts) or path.parent.parent == package / "experiments":
            continue
        names.append(".".join((package.name, *parts)).removesuffix(".__init__"))
    return names


def undocumented_modules(root: Path, docs: Path) -> list[str]:
    """Public modules no ``::: module`` line of docs/api/*.md renders (their packages' __init__ aside)."""
    shown = {m for page in docs.glob("api/*.md") for m in re.findall(r"^::: (\S+)", page.read_text(), re.M)}
    packages = {n for n in public_modules(root / "jaxopt_course") if (root / n.replace(".", "/")).is_dir()}
    return [n for n in public_modules(root / "jaxopt_course") if n not in shown and n not in packages]


def on_config(config):
    """Docs pages missing from the nav join its Guides; modules missing from docs/api/ get a page of their own.

    So a new guide or module is on the site without an edit here (move it to its place when convenient).
    """
    docs, listed = Path(config["docs_dir"]), set(_nav_paths(config["nav"]))
    missing = [p.relative_to(docs).as_posix() for p in sorted(docs.rglob("*.md"))]
    guides = _section(config, "Guides")
    if guides is not None:
        guides.extend(p for p in missing if p not in listed)
    modules = undocumented_modules(Path(config.config_file_path).parent, docs)
    config["extra"]["undocumented_modules"] = modules
    api = _section(config, "API reference")
    if modules and api is not None:
        api.append({"Other modules": OTHER_MODULES})
    return config


OTHER_MODULES = "api/other_modules.md"


def on_files(files, config):
    """Add the README as index.md (generated; the README stays the one source)."""
    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, "index.md", content=readme_as_index(readme.read_text(encoding="utf-8"))))
    modules = config["extra"].get("undocumented_modules")
    if modules:
        content = "# Other modules\n\n" + "".join(f"::: {m}\n\n" for m in modules)
        files.append(File.generated(config, OTHER_MODULES, content=content))
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

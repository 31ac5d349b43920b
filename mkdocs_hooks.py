"""MkDocs hook: the README is the site's home page (index.md), with its ``docs/...`` links made relative."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File


def readme_as_index(readme: str) -> str:
    """The README's Markdown with links into docs/ rewritten relative to docs/ (``](docs/x.md)`` -> ``](x.md)``)."""
    return re.sub(r"\]\(docs/", "](", readme)


def on_files(files, config):
    """Add the README as index.md (generated; the README stays the one source)."""
    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, "index.md", content=readme_as_index(readme.read_text(encoding="utf-8"))))
    return files

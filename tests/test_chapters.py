"""Chapters are MyST Markdown notebooks without outputs, all in the toc."""

from pathlib import Path

import pytest
import yaml
from conftest import toc_files

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.md"))
CODE_CHAPTERS = [p for p in CHAPTERS if "{code-cell}" in p.read_text()]


def test_toc_lists_exactly_the_written_pages():
    listed = set(toc_files())
    on_disk = {str(p.relative_to(ROOT).with_suffix(""))
               for p in (ROOT / "book").glob("*.md")}
    assert listed == on_disk


def test_no_notebooks_with_outputs():
    assert not list((ROOT / "book").rglob("*.ipynb"))


def test_some_chapters_have_code():
    assert len(CODE_CHAPTERS) >= 7


@pytest.mark.parametrize("path", CODE_CHAPTERS, ids=lambda p: p.name)
def test_code_chapters_are_jupytext_myst_notebooks(path):
    text = path.read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["jupytext"]["text_representation"]["format_name"] == "myst"
    assert header["kernelspec"]["name"] == "python3"

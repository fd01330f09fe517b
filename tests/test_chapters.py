"""Chapters are MyST Markdown notebooks without outputs, all in the toc."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    files = [toc["root"]]
    for entry in toc.get("chapters", []):
        files.append(entry["file"])
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_toc_lists_exactly_the_written_pages():
    listed = {f.removesuffix(".md") for f in toc_files()}
    on_disk = {str(p.relative_to(ROOT).with_suffix(""))
               for p in (ROOT / "book").glob("*.md")}
    assert listed == on_disk


def test_no_notebooks_with_outputs():
    assert not list((ROOT / "book").rglob("*.ipynb"))


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.md")),
                         ids=lambda p: p.name)
def test_code_chapters_are_jupytext_myst_notebooks(path):
    text = path.read_text()
    if "{code-cell}" not in text:
        return  # a prose page
    header = yaml.safe_load(text.split("---")[1])
    assert header["jupytext"]["text_representation"]["format_name"] == "myst"
    assert header["kernelspec"]["name"] == "python3"

"""Every figure of the README's performance table is read from the result file it names."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def _section(text: str, title: str) -> str:
    start = text.index(title)
    following = text.find("\n## ", start + len(title))
    return text[start: following if following >= 0 else len(text)]


def _rows() -> list[tuple[str, str, str]]:
    """(what, measured, result file) of each row of the README's performance table."""
    section = _section((ROOT / "README.md").read_text(), "## Performance")
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("what", "---") and not set(cells[0]) <= {"-"}:
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def _numbers(text: str) -> set[str]:
    return {match.replace(",", "") for match in NUMBER.findall(text)}


def test_the_performance_table_has_rows() -> None:
    assert len(_rows()) >= 3


def test_each_measured_figure_is_in_its_result_file() -> None:
    for what, measured, source in _rows():
        files = re.findall(r"`(docs/results/[^`]+)`", source)
        assert files, f"{what}: no result file named"
        texts = []
        for name in files:
            path = ROOT / name
            assert path.is_file() and path.resolve().is_relative_to(RESULTS.resolve()), f"{what}: {name} is missing"
            texts.append(path.read_text())
        figures = _numbers(measured)
        assert figures, f"{what}: no figure in {measured!r}"
        missing = figures - _numbers("\n".join(texts))
        assert not missing, f"{what}: {sorted(missing)} not in {files}"


def test_the_docs_quote_no_result_file_that_does_not_exist() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name in re.findall(r"\(results/([^)#\s]+)\)", doc.read_text()):
            assert (RESULTS / name).is_file(), f"{doc.name} links results/{name}"

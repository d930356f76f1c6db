"""The project's own pages, written in tests/pages/ in the layout the parser reads: a
group's topic list, a thread, and a batchexecute request and reply for the next page."""

from __future__ import annotations

from pathlib import Path

PAGES = Path(__file__).resolve().parents[1] / "pages"


def written_page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")

"""Pages kept in ../shared, beside the repository: a test that reads one skips, saying
which, when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "google-groups"


def fixture(*parts: str) -> str:
    path = FIXTURES.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"fixture {'/'.join(parts)} not available")
    return path.read_bytes().decode("utf-8", errors="replace")

"""Every module stays small enough to read in one sitting: at most 400 lines of code outside the
tests (a file that grows past it has two jobs, and is split where they part)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400
CODE = sorted(
    p for folder in ("functions", "recorder", "local", "bench") for p in (ROOT / folder).rglob("*.py")
)


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_the_limit(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= LIMIT


def test_the_modules_are_found() -> None:
    assert len(CODE) > 100

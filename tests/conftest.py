"""Shared fixtures. Each block is owned by one part of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import modelreg
from modelreg.config import Settings
from modelreg.service import Service

# ---- registry fixtures


@pytest.fixture
def reg(metadata_url: str, tmp_path: Path) -> Iterator[Service]:
    """A registry on each metadata backend (memory, SQLite, PostgreSQL) with local blobs in tmp_path."""
    home = tmp_path / "home"
    settings = Settings(home=home, actor="tester")
    artifacts = "memory://" if metadata_url.startswith("memory") else str(home / "blobs")
    registry = modelreg.connect(metadata_url, artifacts=artifacts, settings=settings)
    try:
        yield registry
    finally:
        registry.close()

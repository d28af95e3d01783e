"""Shared test fixtures: the fixture corpus is built once per test session through the real pipeline."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (recipes, configs and fixtures are addressed relative to it)."""
    return REPO


@pytest.fixture(scope="session")
def fixture_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the fixture corpus (corpora/fixtures.toml) built with the real corpus pipeline."""
    from codecomp.corpus.build import build_corpus

    out = tmp_path_factory.mktemp("fixture-corpus") / "corpus"
    build_corpus(REPO / "corpora" / "fixtures.toml", out, workers=1)
    return out

"""benchmarks/learning_tune.py: settings are parsed into LearnerConfig fields, and the test split is refused."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from learning_tune import main, parse_setting  # noqa: E402

from codecomp.engine.learning import DEFAULT_CONFIG  # noqa: E402


def test_a_setting_replaces_the_named_fields_and_keeps_the_rest() -> None:
    name, cfg = parse_setting("nocache:w_prior=0/0/0/0/0,lr_cache=0,own_document=yes", DEFAULT_CONFIG)
    assert name == "nocache"
    assert cfg.w_prior == (0.0, 0.0, 0.0, 0.0, 0.0) and cfg.lr_cache == 0.0 and cfg.own_document is True
    assert cfg.half_life == DEFAULT_CONFIG.half_life and cfg.lr_ranker == DEFAULT_CONFIG.lr_ranker
    assert parse_setting("shipped", DEFAULT_CONFIG) == ("shipped", DEFAULT_CONFIG)


def test_unknown_fields_and_the_test_split_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown LearnerConfig field"):
        parse_setting("x:halflife=3", DEFAULT_CONFIG)
    with pytest.raises(SystemExit, match="never used for tuning"):
        main(["--corpus", str(tmp_path), "--split", "test"])

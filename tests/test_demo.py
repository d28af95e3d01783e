"""`codecomp demo` on the shipped model: every position's label agrees with the rank the engine gave, the summary
counts the labels, and the measured figures it quotes are those of the shipped model's reports."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codecomp.cli import app
from codecomp.demo import MEASURED, MEASURED_NAMES, SAMPLES, _sample_dir, run_probe, verdict
from codecomp.engine import Engine

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^    -> (?P<shown>.*)   \(expected (?P<expected>\w+); (?P<verdict>[^)]*)\)$")


def probe_lines(output: str) -> list[tuple[list[str], str, str]]:
    """(labels shown, expected identifier, verdict) of every position the demo printed."""
    out = []
    for line in output.splitlines():
        m = LINE.match(line)
        if m:
            shown = [] if m["shown"] == "(no suggestions)" else m["shown"].split(", ")
            out.append(([s.strip("[]") for s in shown], m["expected"], m["verdict"]))
    return out


@pytest.mark.parametrize("top", [5, 3])
def test_labels_match_the_ranks(top: int) -> None:
    res = CliRunner().invoke(app, ["demo", "--top", str(top)])
    assert res.exit_code == 0, res.output
    printed = probe_lines(res.output)
    assert len(printed) == sum(len(probes) for _, probes, *_ in SAMPLES.values())
    # the label agrees with where the expected identifier stands in the printed list ...
    for shown, expected, label in printed:
        assert len(shown) <= top
        rank = shown.index(expected) + 1 if expected in shown else None
        assert label == verdict(rank, top), (shown, expected, label)
    # ... and with what the engine answers when asked again
    engine = Engine.load(None)
    again = []
    for name, (lang, probes, *_rest) in SAMPLES.items():
        text = (_sample_dir() / name).read_text(encoding="utf-8")
        again += [verdict(run_probe(engine, text, lang, p, f"file:///again/{name}", top).rank, top) for p in probes]
    assert again == [label for _, _, label in printed]
    first = sum(label == "hit: first" for *_, label in printed)
    listed = sum(label.startswith("hit") for *_, label in printed)
    assert (f"expected identifier first: {first} of {len(printed)}; in the top {top}: {listed} of {len(printed)}"
            in res.output)
    # strengths and misses both show (the positions were chosen so; the labels come from the answers)
    assert first >= 1 and listed < len(printed)
    assert "measured accuracy of this model (MODEL_CARD.md" in res.output


def test_verdicts() -> None:
    assert verdict(1, 5) == "hit: first"
    assert verdict(3, 5) == "hit: rank 3 of the top 5"
    assert verdict(None, 5) == verdict(6, 5) == "miss: not in the top 5"


def test_quoted_figures_are_the_reports_figures() -> None:
    for lang, folder in (("javascript", "default-js"), ("cpp", "default-cpp")):
        report = json.loads((REPO / "reports" / folder / "report.json").read_text())
        assert report["meta"]["model"].endswith("default_model") and report["meta"]["split"] == "test"
        t0 = report["tasks"]["identifiers"]["systems"]["engine"]["all"]["all"]["t0"]
        assert t0["n"] == 300
        assert MEASURED[lang] == (round(t0["top1"], 1), round(t0["top5"], 1))
        naming = json.loads((REPO / "reports" / folder.replace("default", "naming") / "report.json").read_text())
        assert naming["meta"]["model"].endswith("default_model") and naming["meta"]["split"] == "test"
        names = naming["tasks"]["naming"]["systems"]["engine"]
        assert MEASURED_NAMES[lang] == round(names["top5"], 1)
        card = (REPO / "MODEL_CARD.md").read_text()
        assert f"{MEASURED[lang][0]} / {MEASURED[lang][1]}" in card

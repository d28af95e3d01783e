"""Figures measured before, outside this run, that a report may show next to its own results.

A report prints them in their own table, headed "Reference figures (not measured in this run)", never among the
rows it measured itself, and only where the task and the data match: the same task of this harness (same
definition of the metric), held-out code of the same language, and the same kind of split.  Figures measured
on other data (other languages or datasets, published results) or with another definition of the task are not
kept here: no report could show them honestly.  Keys of ``metrics`` use the names of report.json
(``ident.t0.top1`` = identifier completion, 0 characters typed, top-1 %; MRR values are in [0, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    """One reference system with its figures, the data they were measured on and their source."""

    system: str
    setting: str                    # the data and protocol, in words (printed beside the figures)
    source: str
    task: str                       # the harness task whose definition the figures follow ("identifiers")
    language: str                   # language of the held-out code they were measured on
    split: str = "test"             # the kind of split (held-out projects)
    metrics: dict[str, float] = field(default_factory=dict)

    def matches(self, task: str, language: str | None, split: str) -> bool:
        """Whether these figures may be shown beside a run's `task` on `language` code of `split`."""
        return self.task == task and self.language == language and self.split == split


_HELD_OUT_JS = ("held-out JavaScript (npm packages outside any training set), 300 identifier positions, "
                "document = whole file with the occurrence blanked; not this run's positions")
_HELD_OUT_CPP = "held-out C++, same protocol; not this run's positions"
_PROJECT_MEASUREMENT = "codecomp reference measurement (project notes)"


def _ident(t0: tuple[float, float, float], t1: tuple[float, float, float]) -> dict[str, float]:
    return {"ident.t0.top1": t0[0], "ident.t0.top5": t0[1], "ident.t0.mrr10": t0[2],
            "ident.t1.top1": t1[0], "ident.t1.top5": t1[1], "ident.t1.mrr10": t1[2]}


def _js(system: str, t0: tuple[float, float, float], t1: tuple[float, float, float]) -> Reference:
    return Reference(system, _HELD_OUT_JS, _PROJECT_MEASUREMENT, "identifiers", "javascript",
                     metrics=_ident(t0, t1))


REFERENCES: list[Reference] = [
    # Identifier completion, measured with this harness's definition of the task on held-out code.
    _js("typescript-language-server (tsserver 5.9)", (4.3, 25.0, 0.141), (53.0, 88.3, 0.685)),
    _js("identifiers of the file by frequency", (10.0, 34.3, 0.206), (56.3, 88.0, 0.696)),
    _js("4-gram Kneser-Ney + whole-file cache", (33.7, 60.0, 0.451), (65.7, 90.7, 0.764)),
    _js("token LSTM 1x512, 25 min on 2 CPU cores, no copy", (25.3, 40.0, 0.322), (48.3, 77.3, 0.599)),
    _js("token LSTM 1x512 + copy over the last 384 tokens", (37.0, 67.3, 0.492), (71.3, 91.3, 0.805)),
    _js("LSTM+copy mixed 50/50 with 4-gram + cache", (41.7, 69.3, 0.532), (74.0, 93.0, 0.820)),
    Reference("clangd", _HELD_OUT_CPP, _PROJECT_MEASUREMENT, "identifiers", "cpp",
              metrics={"ident.t0.top5": 64.7, "ident.t1.top1": 75.3}),
]


def references_for(task: str, language: str | None, split: str, metrics: list[str] | tuple[str, ...],
                   references: list[Reference] | None = None) -> list[Reference]:
    """The references that may be shown beside a run's `task` on `language` code of `split` and that report at
    least one of `metrics`.  A table pooled over several languages (`language` None) gets none."""
    return [r for r in (REFERENCES if references is None else references)
            if r.matches(task, language, split) and any(m in r.metrics for m in metrics)]

"""Reference figures printed beside ours in evaluation reports, with where each comes from.

Figures are only put beside a measurement whose definition matches (same task, same metric); they are
context, not targets: other languages, datasets and hardware differ.  Keys of ``metrics`` use the names of
report.json (``ident.t0.top1`` = identifier completion, 0 characters typed, top-1 %; MRR values are in
[0, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    """One reference system with its figures and source."""

    system: str
    setting: str
    source: str
    metrics: dict[str, float] = field(default_factory=dict)


_HELD_OUT_JS = ("held-out JavaScript (npm packages outside any training set), 300 identifier positions, "
                "document = whole file with the occurrence blanked")
_PROJECT_MEASUREMENT = "codecomp reference measurement (project notes)"


def _ident(t0: tuple[float, float, float], t1: tuple[float, float, float]) -> dict[str, float]:
    return {"ident.t0.top1": t0[0], "ident.t0.top5": t0[1], "ident.t0.mrr10": t0[2],
            "ident.t1.top1": t1[0], "ident.t1.top5": t1[1], "ident.t1.mrr10": t1[2]}


REFERENCES: list[Reference] = [
    # Identifier completion, measured on the same protocol as this harness.
    Reference("typescript-language-server (tsserver 5.9)", _HELD_OUT_JS, _PROJECT_MEASUREMENT,
              _ident((4.3, 25.0, 0.141), (53.0, 88.3, 0.685))),
    Reference("identifiers of the file by frequency", _HELD_OUT_JS, _PROJECT_MEASUREMENT,
              _ident((10.0, 34.3, 0.206), (56.3, 88.0, 0.696))),
    Reference("4-gram Kneser-Ney + whole-file cache", _HELD_OUT_JS, _PROJECT_MEASUREMENT,
              _ident((33.7, 60.0, 0.451), (65.7, 90.7, 0.764))),
    Reference("token LSTM 1x512, 25 min on 2 CPU cores, no copy", _HELD_OUT_JS, _PROJECT_MEASUREMENT,
              _ident((25.3, 40.0, 0.322), (48.3, 77.3, 0.599))),
    Reference("token LSTM 1x512 + copy over the last 384 tokens", _HELD_OUT_JS, _PROJECT_MEASUREMENT,
              _ident((37.0, 67.3, 0.492), (71.3, 91.3, 0.805))),
    Reference("LSTM+copy mixed 50/50 with 4-gram + cache", _HELD_OUT_JS, _PROJECT_MEASUREMENT,
              _ident((41.7, 69.3, 0.532), (74.0, 93.0, 0.820))),
    Reference("clangd", "held-out C++, same protocol", _PROJECT_MEASUREMENT,
              {"ident.t0.top5": 64.7, "ident.t1.top1": 75.3, "latency.p99_ms": 30.0}),
    # Literature (different languages and datasets: context only).
    Reference("CodeXGLUE LSTM", "py150 token-level / line-level (Python)", "Lu et al. 2021, CodeXGLUE",
              {"tokens.accuracy": 58.0}),
    Reference("CodeXGLUE Transformer", "py150 token-level (Python)", "Lu et al. 2021, CodeXGLUE",
              {"tokens.accuracy": 73.46}),
    Reference("CodeGPT", "py150 token-level (Python)", "Lu et al. 2021, CodeXGLUE", {"tokens.accuracy": 75.19}),
    Reference("CodeXGLUE LSTM+BPE", "py150 line-level (Python)", "Lu et al. 2021, CodeXGLUE",
              {"lines.exact_match": 23.77, "lines.edit_sim": 56.26}),
    Reference("CodeGPT-adapted", "py150 line-level (Python)", "Lu et al. 2021, CodeXGLUE",
              {"lines.exact_match": 42.37, "lines.edit_sim": 71.59}),
    Reference("n-gram", "Java, MRR of token completion", "Hellendoorn & Devanbu 2017, FSE",
              {"mrr_percent": 56.21}),
    Reference("nested cache n-gram", "Java, MRR of token completion", "Hellendoorn & Devanbu 2017, FSE",
              {"mrr_percent": 74.55}),
    Reference("closed-vocabulary LSTM", "Java, MRR of token completion", "Hellendoorn & Devanbu 2017, FSE",
              {"mrr_percent": 71.01}),
    Reference("JSNice", "JavaScript names recovered", "Raychev et al. 2015, POPL", {"naming.exact": 63.0}),
    Reference("Context2Name", "minified JavaScript names recovered", "Bavishi et al. 2018",
              {"naming.exact": 47.5}),
    Reference("IntelliCode Compose", "perceived-instant latency budget", "Svyatkovskiy et al. 2020, FSE",
              {"latency.budget_ms": 100.0}),
]


def references_for(metric: str, language: str | None = None) -> list[tuple[str, float, str]]:
    """(system, value, source) of every reference figure reported for ``metric``.

    Language-specific project measurements (held-out JavaScript, C++) are only returned when ``language``
    matches or is None.
    """
    out = []
    for r in REFERENCES:
        if metric not in r.metrics:
            continue
        if language == "cpp" and "JavaScript" in r.setting and r.source == _PROJECT_MEASUREMENT:
            continue
        if language == "javascript" and "C++" in r.setting:
            continue
        out.append((r.system, r.metrics[metric], r.source))
    return out

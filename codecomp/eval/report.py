"""Writing an evaluation report: report.json, report.md (metric by system) and PNG plots.

The tables of report.md hold what this run measured, and nothing else.  Figures measured elsewhere
(codecomp/eval/reference.py) go in their own table after the run's, headed "Reference figures (not measured in
this run)", and only where the task, the language and the split match.

Plots use matplotlib's Agg backend (no display needed): identifier accuracy by typed-prefix length, a
histogram of engine latencies, and learning curves read from the ``metrics.jsonl`` of training runs.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from codecomp.eval.reference import Reference, references_for

LANG_NAMES = {"javascript": "JavaScript", "cpp": "C++", "all": "all languages"}


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        return f"{x:.{digits}f}"
    return str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


REFERENCE_HEADING = "Reference figures (not measured in this run)"


def reference_table(task: str, lang: str | None, split: str, metric_keys: Sequence[str], labels: Sequence[str],
                    digits: Sequence[int], references: list[Reference] | None = None) -> list[str]:
    """The reference figures that match a measured table (same task, language and split), as a table of their
    own with the data they were measured on and their source; no lines when none matches."""
    refs = references_for(task, lang, split, metric_keys, references)
    if not refs:
        return []
    # only the columns some reference reports
    cols = [(k, label, d) for k, label, d in zip(metric_keys, labels, digits) if any(k in r.metrics for r in refs)]
    labels = [label for _, label, _ in cols]
    shared = len({(r.setting, r.source) for r in refs}) == 1   # one data description for all: said once
    rows = [[r.system] + [_fmt(r.metrics.get(k), d) for k, _, d in cols]
            + ([] if shared else [r.setting, r.source]) for r in refs]
    lines = ["", f"{REFERENCE_HEADING}: measured before, on other positions of {LANG_NAMES.get(lang or '', lang)} "
             "held-out code, with the same definition of the task; context for the rows above, not part of them.",
             ""] + _table(["reference system", *labels, *([] if shared else ["data", "source"])], rows)
    if shared:
        lines += ["", f"Data: {refs[0].setting}. Source: {refs[0].source}."]
    return lines


def _single_language(meta: dict[str, Any]) -> str | None:
    """The language of a run's pooled tables when the run has one language (None: pooled over several)."""
    langs = meta.get("languages") or []
    return langs[0] if len(langs) == 1 else None


# ----------------------------------------------------------------------------------------------- markdown
def _identifier_section(ident: dict[str, Any], lang: str, split: str,
                        references: list[Reference] | None = None) -> list[str]:
    keys = ["ident.t0.top1", "ident.t0.top5", "ident.t0.mrr10", "ident.t1.top1", "ident.t1.top5",
            "ident.t1.mrr10", "ident.t2.top1", "ident.t3.top1"]
    header = ["system", "top-1 (0)", "top-5 (0)", "MRR@10 (0)", "top-1 (1)", "top-5 (1)", "MRR@10 (1)",
              "top-1 (2)", "top-1 (3)", "n"]
    digits = [1, 1, 3, 1, 1, 3, 1, 1]
    rows = []
    for name, res in ident["systems"].items():
        r = res.get(lang, {}).get("all")
        if not r:
            continue
        vals = []
        for k, d in zip(keys, digits):
            _, t, m = k.split(".")
            vals.append(_fmt(r.get(t, {}).get(m), d))
        rows.append([f"**{name}**" if name.startswith("engine") else name] + vals + [_fmt(r.get("t0", {}).get("n"))])
    if not rows:
        return []
    lines = [f"### Identifier completion, {LANG_NAMES.get(lang, lang)}", "",
             "Columns: characters typed in parentheses; top-k in %, MRR@10 in [0, 1].", ""]
    lines += _table(header, rows)
    if lang != "all":
        lines += reference_table("identifiers", lang, split, keys, header[1:-1], digits, references)
    # in / out of vocabulary
    vrows = []
    for name, res in ident["systems"].items():
        r = res.get(lang, {})
        cells = []
        for split in ("in_vocab", "out_vocab"):
            s = r.get(split, {})
            cells += [_fmt(s.get("t0", {}).get("top1")), _fmt(s.get("t1", {}).get("top1")),
                      _fmt(s.get("t0", {}).get("n"))]
        vrows.append([name] + cells)
    lines += ["", "In / out of the training vocabulary (top-1 %):", ""]
    lines += _table(["system", "in: typed 0", "in: typed 1", "in: n", "out: typed 0", "out: typed 1", "out: n"], vrows)
    return lines + [""]


# (group, field) -> label of the headline figures shown per project and compared between systems
HEADLINES: dict[str, list[tuple[str, str, str, int]]] = {
    "identifiers": [("t0", "top1", "top-1 (0)", 1), ("t0", "top5", "top-5 (0)", 1), ("t0", "mrr10", "MRR@10 (0)", 3),
                    ("t1", "top1", "top-1 (1)", 1), ("t1", "top5", "top-5 (1)", 1), ("t1", "mrr10", "MRR@10 (1)", 3)],
    "tokens": [("token", "accuracy", "accuracy %", 1)],
    "lines": [("line", "exact_match", "exact %", 1), ("line", "edit_sim", "edit sim.", 1),
              ("line", "offered_exact", "offered exact %", 1)],
    "line_starts": [("t0", "exact_match", "exact % (0)", 1), ("t0", "edit_sim", "edit sim. (0)", 1),
                    ("t0", "offered_exact", "offered exact % (0)", 1),
                    ("t1", "exact_match", "exact % (1)", 1), ("t1", "edit_sim", "edit sim. (1)", 1),
                    ("t1", "offered_exact", "offered exact % (1)", 1)],
    "keystrokes": [("keys", "saved_percent", "saved %", 1)],
    "naming": [("name", "exact", "exact %", 1), ("name", "top5", "top-5 %", 1), ("name", "subtoken_f1", "F1", 1)],
}


LINE_COLUMNS = (
    "Columns: exact % and edit similarity of every system's answer at every position (the engine's best "
    "fragment whether or not it would show it, else its top item); coverage: positions where an inline fragment "
    "is offered (the engine: its probability of being exact reaches the engine's threshold; a baseline: any "
    "answer); precision: exact among the offered; offered exact: exact match with every position where nothing "
    "is offered counted as a miss; saved: keystrokes a user saves by accepting the offered fragments that are "
    "exact (one key to accept), over the characters of the targets.")


def _line_table(rows_by_system: dict[str, dict[str, Any]]) -> list[str]:
    rows = [[n, _fmt(r.get("exact_match")), _fmt(r.get("edit_sim")), _fmt(r.get("coverage")),
             _fmt(r.get("precision")), _fmt(r.get("offered_exact")), _fmt(r.get("saved_percent")), _fmt(r.get("n"))]
            for n, r in rows_by_system.items() if r]
    return _table(["system", "exact %", "edit sim.", "coverage %", "precision %", "offered exact %", "saved %",
                   "n"], rows)


def _signed(x: float, digits: int) -> str:
    return f"{x:+.{digits}f}"


def _project_tables(task_name: str, task: dict[str, Any]) -> list[str]:
    """Per-project rows beside the pooled figure and the macro average (mean over projects), per group."""
    heads = HEADLINES.get(task_name, [])
    by_project, macro, pooled = task.get("by_project", {}), task.get("macro", {}), task.get("pooled", {})
    if not heads or not by_project:
        return []
    lines = ["By project (pooled: all positions together; macro: mean over projects of each project's figure; "
             "n: positions scored):", ""]
    for group in dict.fromkeys(g for g, *_ in heads):
        fields = [(f, label, d) for g, f, label, d in heads if g == group]
        projects = sorted({p for rows in by_project.values() for p, r in rows.items() if group in r})
        if not projects:
            continue
        n_of = {p: next(r[p][group]["n"] for r in by_project.values() if group in r.get(p, {})) for p in projects}
        n_all = next((r[group]["n"] for r in pooled.values() if group in r), sum(n_of.values()))
        header = ["system (" + " / ".join(label for _, label, _ in fields) + ")", f"pooled (n={n_all})",
                  f"macro ({len(projects)} projects)"] + [f"{p} (n={n_of[p]})" for p in projects]

        def cell(row: dict[str, Any] | None) -> str:
            if not row:
                return "-"
            return " / ".join(_fmt(row.get(f), d) for f, _, d in fields)

        rows = []
        for system, per in by_project.items():
            if not any(group in r for r in per.values()):
                continue
            rows.append([system, cell(pooled.get(system, {}).get(group)), cell(macro.get(system, {}).get(group))]
                        + [cell(per.get(p, {}).get(group)) for p in projects])
        lines += _table(header, rows) + [""]
    return lines


def _comparison_table(task_name: str, task: dict[str, Any]) -> list[str]:
    """Engine minus each other system on the headline figures, with 95 % file-bootstrap intervals."""
    heads = HEADLINES.get(task_name, [])
    comps = task.get("comparisons", [])
    if not heads or not comps:
        return []
    primary = comps[0]["a"]
    by = {(c["a"], c["b"], c["metric"]): c for c in comps}
    pairs = list(dict.fromkeys((c["a"], c["b"]) for c in comps))
    shown = [(f"{g}.{f}", label, d) for g, f, label, d in heads
             if any((a, b, f"{g}.{f}") in by for a, b in pairs)]

    def row(a: str, b: str) -> list[str]:
        cells = []
        for key, _, d in shown:
            c = by.get((a, b, key))
            if c is None:
                cells.append("-")
                continue
            text = f"{_signed(c['diff'], d)} [{_signed(c['low'], d)}, {_signed(c['high'], d)}]"
            cells.append(f"**{text}**" if c["excludes_zero"] else text)
        return cells

    any_c = comps[0]
    lines = [f"`{primary}` minus each system, with the {round(100 * any_c['level'])} % paired bootstrap interval "
             f"({any_c['resamples']} resamples of the {any_c['files']} files; the positions of a file stay "
             "together). **Bold**: the interval excludes 0, so the sign of the difference is supported at this "
             "sample size; otherwise the two systems are not distinguishable here.", ""]
    labels = [label for _, label, _ in shown]
    lines += _table([f"{primary} minus"] + labels, [[b] + row(a, b) for a, b in pairs if a == primary]) + [""]
    others = [(a, b) for a, b in pairs if a != primary]
    if others:
        lines += ["Other paired comparisons (A minus B, same intervals):", ""]
        lines += _table(["A minus B"] + labels, [[f"{a} minus {b}"] + row(a, b) for a, b in others]) + [""]
    return lines


def _sampling_lines(task: dict[str, Any]) -> list[str]:
    """One line on how the positions of a task were drawn."""
    sm = task.get("sampling")
    if not sm:
        return []
    parts = ", ".join(f"{p} {v['drawn']}" for p, v in sm["projects"].items())
    return [f"Positions drawn: {sm['positions']} (equal share {sm['share']} per project, at most {sm['cap']} per "
            f"file): {parts}.", ""]


def _task_extras(task_name: str, task: dict[str, Any]) -> list[str]:
    return _sampling_lines(task) + _project_tables(task_name, task) + _comparison_table(task_name, task)


def render_markdown(report: dict[str, Any], plots: dict[str, str], references: list[Reference] | None = None) -> str:
    """The human-readable report (`references`: the reference figures to consider, default: all of
    codecomp/eval/reference.py; only the matching ones are shown)."""
    meta, tasks = report["meta"], report["tasks"]
    split, single = meta.get("split", ""), _single_language(meta)
    L: list[str] = ["# codecomp evaluation report", ""]
    L += [f"- corpus: `{meta['corpus']}`, split `{meta['split']}` ({meta['files']} files, "
          f"languages: {', '.join(meta['languages'])})",
          f"- held-out projects ({len(meta['projects'])}): "
          + ", ".join(f"{p} ({meta.get('files_per_project', {}).get(p, '?')} files)" for p in meta['projects']),
          f"- engine: `{meta['engine']}` ({meta['engine_kind']}), model `{meta['model']}`"
          + (f" — note: {meta['engine_problem']}" if meta.get("engine_problem") else ""),
          f"- positions per task: {meta['max_positions']}, seed {meta['seed']}"
          + (" (quick mode)" if meta.get("quick") else ""),
          f"- in/out of vocabulary is decided by {meta.get('vocabulary_split', '-')}",
          f"- baselines trained on the train split: "
          + "; ".join(f"{LANG_NAMES.get(k, k)} {v['files']} files / {v['tokens']:,} tokens"
                      for k, v in meta.get("baselines", {}).items()),
          *([f"- sampling: {meta['sampling_rule']}"] if meta.get("sampling_rule") else []),
          *([f"- confidence intervals: paired bootstrap over files, {meta['bootstrap']['resamples']} resamples, "
             f"{round(100 * meta['bootstrap']['level'])} % percentile interval, seed {meta['bootstrap']['seed']}"]
            if meta.get("bootstrap") else []),
          *([f"- engine calls that failed (scored as empty answers): "
             + "; ".join(f"{n}x {m}" for m, n in meta["engine_errors"].items())] if meta.get("engine_errors") else []),
          f"- written {report.get('written', '-')}, took {report.get('seconds', {}).get('total', '-')} s", ""]
    L += ["Every table row was measured in this run, on the positions described here. Figures measured before "
          f"(codecomp/eval/reference.py) appear only in tables headed \"{REFERENCE_HEADING}\", and only where the "
          "task, the language and the split match.", ""]

    ident = tasks.get("identifiers")
    if ident:
        L += ["## Identifier completion", "",
              "At each sampled identifier occurrence the system sees the whole file with that occurrence "
              "blanked out and is asked at its start (0 characters typed) or after 1-3 typed characters.", ""]
        for lang in ["all", *sorted({k for r in ident["systems"].values() for k in r if k != "all"})]:
            L += _identifier_section(ident, lang, split, references)
        L += _task_extras("identifiers", ident)
        if ident.get("project_context"):  # file only vs project context (codecomp/eval/project_context.py)
            from codecomp.eval.project_context import found_markdown

            L += found_markdown(ident["project_context"]).splitlines() + [""]
        if "identifiers" in plots:
            L += [f"![identifier accuracy by typed prefix]({plots['identifiers']})", ""]

    tok = tasks.get("tokens")
    if tok:
        L += ["## Next-token accuracy", "",
              f"Top-1 next token at {tok['positions']} sampled token positions of held-out files (left context "
              "only; string and number literals compared as classes).", ""]
        rows = [[n, _fmt(r["all"]["accuracy"]), _fmt(r["all"]["n"])] for n, r in tok["systems"].items()]
        L += _table(["system", "accuracy %", "n"], rows)
        L += reference_table("tokens", single, split, ["tokens.accuracy"], ["accuracy %"], [1], references) + [""]
        L += _task_extras("tokens", tok)

    lines = tasks.get("lines")
    if lines:
        L += ["## Line completion", "",
              "Rest of the line from a token inside it (left context only); exact match after whitespace "
              "normalisation and edit similarity.", "", LINE_COLUMNS, ""]
        L += _line_table({n: r.get("all", {}) for n, r in lines["systems"].items()})
        L += reference_table("lines", single, split, ["lines.exact_match", "lines.edit_sim"],
                             ["exact match %", "edit similarity"], [1, 1], references) + [""]
        L += _task_extras("lines", lines)
        eng = next((r for n, r in lines["systems"].items() if n.startswith("engine")), None)
        if eng and eng.get("examples"):
            L += ["Examples (engine):", ""]
            for ex in eng["examples"][:3]:
                L += [f"- `{ex['file']}`: expected `{ex['target'].strip()}`, got `{ex['prediction'].strip()}`"]
            L += [""]

    starts = tasks.get("line_starts")
    if starts:
        L += ["## Line completion at the start of a line", "",
              "Rest of the line at the start of a line's code (after its indentation), the rest of that line "
              "removed and the lines after it kept: with nothing typed (0) and with the line's first token typed "
              "(1).", "", LINE_COLUMNS, ""]
        for group, label in (("t0", "nothing typed"), ("t1", "first token typed")):
            L += [f"{label}:", ""]
            L += _line_table({n: r.get(group, {}).get("all", {}) for n, r in starts["systems"].items()
                              if group in r}) + [""]
        L += _task_extras("line_starts", starts)
        eng = starts["systems"].get("engine", {})
        for group in ("t0", "t1"):
            exs = eng.get(group, {}).get("examples") or []
            if exs:
                L += [f"Examples (engine, {group}):", ""]
                L += [f"- `{ex['file']}`: expected `{ex['target'].strip()}`, got `{ex['prediction'].strip()}`"
                      + ("" if ex.get("offered") else " (not offered)") for ex in exs[:3]] + [""]

    ks = tasks.get("keystrokes")
    if ks:
        L += ["## Keystrokes saved", "",
              f"A simulated user types {ks['windows']} windows of lines and accepts the top suggestion or the inline "
              "fragment when it is exactly what follows (accepting costs one key).", ""]
        rows = [[n, _fmt(r["all"]["saved_percent"]), str(r["all"]["saved"]), str(r["all"]["typed"]),
                 str(r["all"]["calls"])] for n, r in ks["systems"].items()]
        L += _table(["system", "saved %", "saved", "characters", "calls"], rows) + [""]
        L += _task_extras("keystrokes", ks)

    ch = tasks.get("char")
    if ch:
        L += ["## Char model", ""]
        if "skipped" in ch:
            L += [f"Not measured: {ch['skipped'].rstrip('.')}.", ""]
        else:
            L += [f"Bits per character: **{ch['bits_per_char']:.3f}** ({ch['bits_per_byte']:.3f} per byte) over "
                  f"{ch['characters']} characters in {ch['chunks']} chunks of held-out files.", ""]

    nm = tasks.get("naming")
    if nm:
        L += ["## Naming", ""]
        if "skipped" in nm:
            L += [f"Not measured: {nm['skipped'].rstrip('.')}.", ""]
        else:
            if nm.get("engine_note"):
                L += [f"Engine: {nm['engine_note'].rstrip('.')}.", ""]
            rows = [[n, _fmt(r.get("exact")), _fmt(r.get("top5")), _fmt(r.get("subtoken_f1")), _fmt(r.get("n"))]
                    for n, r in nm["systems"].items()]
            L += _table(["system", "exact %", "top-5 %", "sub-token F1", "n"], rows)
            L += reference_table("naming", single, split, ["naming.exact", "naming.top5", "naming.subtoken_f1"],
                                 ["exact %", "top-5 %", "sub-token F1"], [1, 1, 1], references) + [""]
            if nm.get("confidence"):
                L += ["Confidence of the engine's first name: the symbols whose first name scores at least this "
                      "much, and how often that name is the author's.", ""]
                L += _table(["min score", "shown %", "precision %", "n"],
                            [[_fmt(r["min_score"], 2), _fmt(r["shown"]), _fmt(r["precision"]), _fmt(r["n"])]
                             for r in nm["confidence"]]) + [""]
            L += _task_extras("naming", nm)

    lat = tasks.get("latency")
    if lat:
        L += ["## Latency of the engine", "",
              "Wall time of `Engine.complete` as the harness called it. `typing`: a user types identifiers one "
              "character at a time in an open file (one character changes between calls); the task rows time "
              "the calls of each task, where the document is replaced between calls.", ""]
        rows = [[k, _fmt(v.get("p50"), 2), _fmt(v.get("p95"), 2), _fmt(v.get("p99"), 2), _fmt(v.get("n"))]
                for k, v in lat.items() if v.get("n")]
        L += _table(["calls", "p50 ms", "p95 ms", "p99 ms", "n"], rows) + [""]
        if "latency" in plots:
            L += [f"![latency histogram]({plots['latency']})", ""]
    learn = tasks.get("learning")
    if learn:  # a simulated user with learning from the user on and off (codecomp/eval/learning_eval.py)
        from codecomp.eval.learning_eval import learning_markdown

        L += learning_markdown(learn, report.get("seconds", {}).get("learning_updates"))
    if "learning_curves" in plots:
        L += ["## Training", "", f"![learning curves]({plots['learning_curves']})", ""]
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_identifiers(ident: dict[str, Any], path: Path) -> None:
    """Top-1 and top-5 by typed-prefix length, one line per system."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, res in ident["systems"].items():
        r = res.get("all", {}).get("all", {})
        xs = [t for t in (0, 1, 2, 3) if f"t{t}" in r]
        for ax, metric in zip(axes, ("top1", "top5")):
            ax.plot(xs, [r[f"t{t}"][metric] for t in xs], marker="o", label=name,
                    linewidth=2.5 if name.startswith("engine") else 1.2)
    for ax, metric in zip(axes, ("top-1 %", "top-5 %")):
        ax.set_xlabel("characters typed")
        ax.set_ylabel(metric)
        ax.set_xticks([0, 1, 2, 3])
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("Identifier completion by typed-prefix length")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(latencies: dict[str, list[float]], path: Path) -> None:
    """Histogram of engine call latencies (log-spaced bins) with p50 / p95 / p99 marks."""
    from codecomp.eval.metrics import percentile

    plt = _plt()
    every = [x for v in latencies.values() for x in v]
    fig, ax = plt.subplots(figsize=(7, 4))
    lo, hi = max(min(every), 1e-3), max(max(every), 1e-2)
    bins = [lo * (hi / lo) ** (i / 40) for i in range(41)] if hi > lo else 20
    for name, v in latencies.items():
        if v:
            ax.hist(v, bins=bins, alpha=0.6, label=f"{name} ({len(v)})")
    ax.set_xscale("log")
    for q, style in ((50, "-"), (95, "--"), (99, ":")):
        x = percentile(every, q)
        ax.axvline(x, color="k", linestyle=style, linewidth=1, label=f"p{q} {x:.1f} ms (all calls)")
    ax.set_xlabel("ms per complete() call")
    ax.set_ylabel("calls")
    ax.legend(fontsize=8)
    ax.set_title("Engine latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """Rows of RUN/metrics.jsonl (unreadable lines skipped)."""
    rows = []
    f = Path(run) / "metrics.jsonl"
    if not f.is_file():
        return rows
    for line in f.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def plot_learning_curves(runs: Sequence[Path], path: Path) -> bool:
    """Train and valid loss against step for each run that has metrics; False when none has."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for run in runs:
        rows = read_metrics(run)
        for split, style in (("train", "-"), ("valid", "o--")):
            pts = [(r["step"], r["loss"]) for r in rows
                   if r.get("split", "train") == split and isinstance(r.get("loss"), (int, float))
                   and isinstance(r.get("step"), (int, float))]
            if pts:
                ax.plot(*zip(*pts), style, label=f"{Path(run).name} {split}")
                drawn = True
    if drawn:
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Learning curves")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def runs_from_manifest(artifact: Path | None) -> list[Path]:
    """Training run folders named by an artifact's manifest (``training.runs`` or ``models.*.run``)."""
    if artifact is None:
        return []
    mf = Path(artifact) / "manifest.json"
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    found: list[str] = []

    def take(value: Any) -> None:
        # a run is named by a path string, or by a dict carrying one under a path-like key
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key in ("path", "run", "run_dir", "dir"):
                if isinstance(value.get(key), str):
                    found.append(value[key])

    training = manifest.get("training") or {}
    runs = training.get("runs") if isinstance(training, dict) else None
    for value in (runs.values() if isinstance(runs, dict) else runs if isinstance(runs, list) else []):
        take(value)
    for info in (manifest.get("models") or {}).values():
        if isinstance(info, dict):
            take(info.get("run"))
    out: list[Path] = []
    for r in found:
        p = Path(r)
        for cand in (p, Path(artifact) / p):
            try:
                if (cand / "metrics.jsonl").is_file() and cand not in out:
                    out.append(cand)
                    break
            except OSError:  # a value that is not a usable path
                continue
    return out


# ---------------------------------------------------------------------------------------------- writing
# A list of numbers as json.dumps(indent=...) lays it out: "[", newline, one number per line, "]".  Only a list
# opened by a raw newline matches, and a JSON string cannot hold a raw newline, so text inside strings is safe.
_NUMBER_LIST = re.compile(r"\[\n\s*(-?[0-9][-+.eE0-9,\s]*?)\n\s*\]")


def dumps_compact(report: dict[str, Any]) -> str:
    """JSON indented for reading, except that lists of numbers (the per-position records) stay on one line."""
    text = json.dumps(report, indent=2)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


def write_report(result: Any, out_dir: Path, runs: Sequence[Path] = ()) -> dict[str, Path]:
    """Write report.json, report.md and the plots into ``out_dir``; returns the written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Run-dependent values live only under "seconds", "written" and tasks.latency: two runs of the same
    # evaluation give identical report.json files once those keys are left out.
    report = {"meta": result.meta, "tasks": result.tasks, "seconds": dict(getattr(result, "seconds", {})),
              "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    written: dict[str, Path] = {}
    plots: dict[str, str] = {}
    ident = result.tasks.get("identifiers")
    if ident and ident["systems"]:
        plot_identifiers(ident, out_dir / "identifiers_by_typed.png")
        plots["identifiers"] = "identifiers_by_typed.png"
    if any(result.latencies_ms.values()):
        plot_latency(result.latencies_ms, out_dir / "latency_hist.png")
        plots["latency"] = "latency_hist.png"
    if runs and plot_learning_curves(runs, out_dir / "learning_curves.png"):
        plots["learning_curves"] = "learning_curves.png"
    report["plots"] = plots
    report["runs"] = [str(r) for r in runs]
    (out_dir / "report.json").write_text(dumps_compact(report), encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report, plots), encoding="utf-8")
    written["json"] = out_dir / "report.json"
    written["md"] = out_dir / "report.md"
    for k, v in plots.items():
        written[k] = out_dir / v
    return written

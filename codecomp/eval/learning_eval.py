"""Learning from the user, measured: a simulated user types held-out projects with learning on and off.

For every held-out project (the unit of the split, so nothing of it was seen in training), a user types files
of the project one after the other, each from top to bottom; the project is the workspace, and a fresh learner
(`codecomp.engine.learning`) starts with the project.  Per project:

* files are taken in a seeded order until `LearningOptions.identifiers` identifiers are covered (at most
  `max_files` files, at least one);
* the editor shows a completion list at every identifier the user types (as VS Code does by default), and the
  identifier typed is the event's name.  Asking the engine at every identifier of a project would take hours,
  so the engine is asked at `update_positions` sampled positions (its list and the name make a full event:
  the correction moves and the cache counts), and at every other identifier the event's cache part is counted
  (`Learner.observe_name`, which needs no list: the cache counts the name in its context whatever was shown);
* measured positions: `measured` sampled identifier positions of the second half of the files, and
  `first_file` of the first file (where the learner has seen nothing of other files yet, so it must not hurt).
  At a measured position the engine is asked with 0 and 1 characters typed, with learning off and on, on the
  same text (everything before the cursor: the user is typing the file), before the event of that position is
  counted.

Both systems are the same engine on the same documents; "on" is the engine with the project's learner set
(`Engine.set_learning`), "off" the engine without one.  Top-1 is the share of positions where the identifier is
the first item.  Each language is reported on its own (second half, first file), with a paired bootstrap interval
of the difference over positions.  Timings of the learner's updates are kept apart (`seconds` of the report),
so the figures of two runs are identical.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from codecomp.eval.documents import IDENTIFIER, FileDoc, Query
from codecomp.eval.engine_system import EngineSystem
from codecomp.eval.sampling import rng_for

MEMBER_OPS = frozenset({".", "->", "?.", "::"})
BOOTSTRAP = 2000


@dataclass
class LearningOptions:
    """How much each project is typed and measured."""

    identifiers: int | None = None  # identifiers typed per project (files are taken until this many are
                                    # covered; None: every file of the project)
    max_files: int | None = None    # files typed per project at most (None: no limit)
    update_positions: int = 1500  # positions where the engine is asked for a full event (besides the measured)
    measured: int = 100         # measured positions in the second half of the files, per project
    first_file: int = 50        # measured positions in the first file, per project
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0) -> "LearningOptions":
        return cls(identifiers=400, max_files=6, update_positions=10, measured=6, first_file=4, seed=seed)


class _Sim(EngineSystem):
    """The engine through the harness's adapter, under its own URIs (one folder per project)."""

    def uri_of(self, doc: FileDoc) -> str:
        ext = {"cpp": ".cpp", "javascript": ".js"}.get(doc.lang, "")
        path = doc.path if doc.path.endswith(ext) else doc.path + ext
        return f"file:///codecomp-learning/{doc.project}/{path}"


def project_files(docs: Sequence[FileDoc], project: str, opts: LearningOptions) -> list[FileDoc]:
    """The files of `project` the user types, in the order they are typed."""
    mine = sorted((d for d in docs if d.project == project), key=lambda d: d.path)
    order = rng_for(opts.seed, "learning", project).permutation(len(mine)).tolist()
    out, covered = [], 0
    for i in order:
        doc = mine[i]
        if not any(k == IDENTIFIER for k in doc.kinds):
            continue
        out.append(doc)
        covered += sum(1 for k in doc.kinds if k == IDENTIFIER)
        if (opts.identifiers is not None and covered >= opts.identifiers) or \
                (opts.max_files is not None and len(out) >= opts.max_files):
            break
    return out


def _pick(positions: list[tuple[int, int]], n: int, rng: np.random.Generator) -> set[tuple[int, int]]:
    if len(positions) <= n:
        return set(positions)
    return {positions[i] for i in rng.choice(len(positions), size=n, replace=False).tolist()}


def plan(files: Sequence[FileDoc], opts: LearningOptions, project: str
         ) -> tuple[set[tuple[int, int]], set[tuple[int, int]], set[tuple[int, int]]]:
    """(first-file measured, second-half measured, update) positions as (file number, token) pairs."""
    rng = rng_for(opts.seed, "learning-positions", project)
    idents = [[(f, i) for i, k in enumerate(doc.kinds) if k == IDENTIFIER] for f, doc in enumerate(files)]
    half = len(files) // 2 if len(files) > 1 else len(files)
    first = _pick(idents[0], opts.first_file, rng)
    second = _pick([p for f in range(half, len(files)) for p in idents[f]] if len(files) > 1 else [],
                   opts.measured, rng)
    rest = [p for f in range(len(files)) for p in idents[f] if p not in first and p not in second]
    update = _pick(rest, opts.update_positions, rng)
    return first, second, update


def _rank(res: Any, target: str) -> int | None:
    labels = [c.label for c in getattr(res, "items", ())[:10]]
    return labels.index(target) + 1 if target in labels else None


def simulate_project(engine: Any, files: Sequence[FileDoc], opts: LearningOptions, project: str,
                     learning_factory: Any) -> dict[str, Any]:
    """Type one project with learning off and on; per measured position: (group, file, typed, on rank, off
    rank), plus the learner's update times (µs) and size."""
    from codecomp.engine.learning import context_of

    first, second, update = plan(files, opts, project)
    sim = _Sim(engine, "learning", max_items=10)
    learning = learning_factory()
    learner = learning.for_path(None)
    records: list[tuple[str, int, int, int | None, int | None]] = []
    update_us: list[float] = []
    try:
        for f, doc in enumerate(files):
            raw = doc.text.encode("utf-8", "surrogatepass")
            byte_of = _byte_offsets(doc.text) if len(raw) != len(doc.text) else None
            uri = sim.uri_of(doc)
            for i, kind in enumerate(doc.kinds):
                if kind != IDENTIFIER:
                    continue
                target = doc.tokens[i]
                pos = (f, i)
                group = "first_file" if pos in first else "second_half" if pos in second else None
                if group is not None:
                    typed = [0, 1] if len(target) > 1 else [0]
                    off: dict[int, int | None] = {}
                    engine.set_learning(None)
                    for t in typed:
                        off[t] = _rank(sim.complete(Query(doc, i, target[:t], "left")), target)
                    engine.set_learning(learning)
                    shown = None
                    for t in typed:
                        res = sim.complete(Query(doc, i, target[:t], "left"))
                        if t == 0:
                            shown = getattr(res, "shown_id", None)
                        records.append((group, f, t, _rank(res, target), off[t]))
                    _learn(engine, shown, target, update_us)
                elif pos in update:
                    engine.set_learning(learning)
                    res = sim.complete(Query(doc, i, "", "left"))
                    _learn(engine, getattr(res, "shown_id", None), target, update_us)
                else:
                    start = doc.start_chars[i]
                    pstart = byte_of[start] if byte_of is not None else start
                    member = i > 0 and doc.tokens[i - 1] in MEMBER_OPS
                    t0 = time.perf_counter()
                    learner.observe_name(context_of(raw, pstart, doc.lang, uri, member), target)
                    update_us.append((time.perf_counter() - t0) * 1e6)
            sim.close_all()
    finally:
        engine.set_learning(None)
        sim.close_all()
    return {"records": records, "update_us": update_us, "size": learner.size(), "files": len(files),
            "correction": {"a": round(learner.a, 3), "w": [round(float(x), 3) for x in learner.w]},
            "events": {"accepted": learner.events.accepted, "typed": learner.events.typed,
                       "updates": learner.events.updates, "clock": learner.clock}}


def _learn(engine: Any, shown: int | None, target: str, times: list[float]) -> None:
    if shown is None:
        return
    t0 = time.perf_counter()
    engine.learn(shown, target)
    times.append((time.perf_counter() - t0) * 1e6)


def _byte_offsets(text: str) -> list[int]:
    out, b = [], 0
    for ch in text:
        out.append(b)
        b += len(ch.encode("utf-8", "surrogatepass"))
    out.append(b)
    return out


def _top1(records: Sequence[tuple], which: int) -> float:
    return round(100.0 * sum(1 for r in records if r[which] == 1) / len(records), 2) if records else float("nan")


def _interval(on: np.ndarray, off: np.ndarray, seed: int, key: str) -> tuple[float, float]:
    """95 % paired bootstrap interval of the top-1 difference (points), resampling positions."""
    if len(on) == 0:
        return float("nan"), float("nan")
    rng = rng_for(seed, "learning-bootstrap", key)
    diff = (on.astype(np.float64) - off.astype(np.float64)) * 100.0
    idx = rng.integers(0, len(diff), size=(BOOTSTRAP, len(diff)))
    means = diff[idx].mean(axis=1)
    return round(float(np.percentile(means, 2.5)), 2), round(float(np.percentile(means, 97.5)), 2)


def summarise(records: Sequence[tuple], seed: int, key: str) -> dict[str, Any]:
    """{group: {"t0": {...}, "t1": {...}}} with n, top-1 on / off, the difference and its interval."""
    out: dict[str, Any] = {}
    for group in ("second_half", "first_file"):
        per: dict[str, Any] = {}
        for t in (0, 1):
            rs = [r for r in records if r[0] == group and r[2] == t]
            on = np.array([r[3] == 1 for r in rs], dtype=bool)
            off = np.array([r[4] == 1 for r in rs], dtype=bool)
            lo, hi = _interval(on, off, seed, f"{key}/{group}/{t}")
            per[f"t{t}"] = {"n": len(rs), "on": _top1(rs, 3), "off": _top1(rs, 4),
                            "gain": round(_top1(rs, 3) - _top1(rs, 4), 2) if rs else float("nan"),
                            "gain_interval": [lo, hi]}
        out[group] = per
    return out


def eval_learning(engine: Any, docs: Sequence[FileDoc], opts: LearningOptions, progress: bool = True,
                  learning_factory: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(task output for report.json, timings): per language, the simulated user's top-1 with learning on and
    off; `learning_factory` makes the learners of one project (default: `Learning()`, in memory)."""
    from tqdm import tqdm

    from codecomp.engine.learning import DEFAULT_CONFIG, Learning

    factory = learning_factory or (lambda: Learning())
    by_lang: dict[str, list[str]] = {}
    for d in docs:
        if d.project not in by_lang.setdefault(d.lang, []):
            by_lang[d.lang].append(d.project)
    out: dict[str, Any] = {"options": dict(vars(opts)), "languages": {}}
    timing: dict[str, Any] = {}
    for lang, projects in sorted(by_lang.items()):
        lang_docs = [d for d in docs if d.lang == lang]
        records: list[tuple] = []
        per_project: dict[str, Any] = {}
        times: list[float] = []
        largest = 0
        for project in tqdm(sorted(projects), desc=f"learning: {lang}", disable=not progress, leave=False):
            files = project_files(lang_docs, project, opts)
            if not files:
                continue
            res = simulate_project(engine, files, opts, project, factory)
            records += res["records"]
            times += res["update_us"]
            largest = max(largest, res["size"]["entries"])
            per_project[project] = {"files": res["files"], "events": res["events"], "cache": res["size"],
                                    "correction": res["correction"],
                                    **summarise(res["records"], opts.seed, f"{lang}/{project}")}
        out["languages"][lang] = {"projects": per_project, **summarise(records, opts.seed, lang)}
        if times:
            arr = np.array(times)
            timing[lang] = {"updates": len(times), "mean_us": round(float(arr.mean()), 1),
                            "p99_us": round(float(np.percentile(arr, 99)), 1),
                            "max_us": round(float(arr.max()), 1), "largest_cache_entries": largest}
    out["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(DEFAULT_CONFIG).items()}
    return out, timing


def learning_markdown(task: dict[str, Any], timing: dict[str, Any] | None = None) -> list[str]:
    """The report.md section of the learning task."""
    o = task["options"]
    typed = ("every file of each project" if o["identifiers"] is None and o["max_files"] is None else
             f"files of each project until {o['identifiers'] or 'all'} identifiers or {o['max_files'] or 'all'} "
             "files are covered")
    L = ["## Learning from the user", "",
         f"A simulated user types {typed}, file after file (in a seeded order), each from top to bottom, with a "
         "fresh learner per project (the project is the workspace; the engine has no project index, so what it "
         "knows of the other files comes from the learner). A list is shown at every identifier typed: the engine "
         f"is asked at {o['update_positions']} sampled positions per project (full events: the list and the name "
         "typed) and at the measured ones; every other identifier counts in the learner's cache only. Measured: "
         f"{o['measured']} positions per project in the second half of its files and {o['first_file']} in its "
         "first file, each with learning off and then on, on the same text (what precedes the cursor), before "
         "the position's own event. Top-1 %; the interval is a 95 % paired bootstrap over positions.", ""]
    header = ["language", "measured in", "typed", "n", "top-1 off", "top-1 on", "gain", "95 % interval"]
    rows = []
    for lang, res in task["languages"].items():
        for group, name in (("second_half", "second half"), ("first_file", "first file")):
            for t in ("t0", "t1"):
                r = res[group][t]
                if not r["n"]:
                    continue
                lo, hi = r["gain_interval"]
                rows.append([lang, name, t[1:], str(r["n"]), f"{r['off']:.1f}", f"{r['on']:.1f}",
                             f"{r['gain']:+.1f}", f"[{lo:+.1f}, {hi:+.1f}]"])
    L += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    L += ["| " + " | ".join(r) + " |" for r in rows]
    L += [""]
    per = [[lang, p, str(v["files"]), str(v["events"]["clock"]),
            f"{v['second_half']['t0']['off']:.1f} -> {v['second_half']['t0']['on']:.1f}" if v["second_half"]["t0"]["n"] else "-",
            f"{v['first_file']['t0']['off']:.1f} -> {v['first_file']['t0']['on']:.1f}" if v["first_file"]["t0"]["n"] else "-"]
           for lang, res in task["languages"].items() for p, v in res["projects"].items()]
    L += ["Per project (top-1 with nothing typed, off -> on):", ""]
    L += ["| language | project | files typed | identifiers typed | second half | first file |",
          "|---|---|---|---|---|---|"]
    L += ["| " + " | ".join(r) + " |" for r in per] + [""]
    if timing:
        L += ["Learner updates (this run's wall time): "
              + "; ".join(f"{lang}: {t['updates']} updates, mean {t['mean_us']:.0f} µs, p99 {t['p99_us']:.0f} µs, "
                          f"max {t['max_us']:.0f} µs, largest cache {t['largest_cache_entries']} entries"
                          for lang, t in timing.items()), ""]
    return L

"""`codecomp train ranker`: learn the ranking of completion candidates from held-in code.

1. Positions: identifier occurrences of the corpus's train split, stratified by project like the evaluation
   (`codecomp.eval.sampling`), each asked at 0 and 1 typed characters with the identifier hidden and, by default,
   the rest of its project as the workspace (`codecomp.eval.project_context`).
2. Features: `Engine.ranker_rows`, the very code that serves, gives one row of `codecomp.engine.ranker.FEATURES`
   per candidate; the true identifier is the one relevant candidate of its group.  Groups whose true identifier
   is not a candidate teach nothing about ranking and are left out.
3. A LightGBM LambdaRank model (one group per position), early-stopped on the same kind of groups from the
   valid split, exported to ONNX (`ai.onnx.ml` tree ensemble) with onnxmltools.

The run folder gets `ranker.onnx` and `ranker.json` (features, version, training figures);
`codecomp train ranker --install ARTIFACT` (or `install_ranker`) copies them into an artifact as
`models.ranker`.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

RANKER_FILE = "ranker.onnx"
INFO_FILE = "ranker.json"


@dataclass
class Groups:
    """Feature rows of many positions: rows of group g are x[starts[g]:starts[g + 1]], relevance in y."""

    x: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    typed: list[int] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    missed: int = 0          # positions whose true identifier was not a candidate

    def add(self, rows: np.ndarray, labels: Sequence[str], target: str, typed: int, project: str) -> None:
        """One position; kept only when the true identifier is among the candidates."""
        if target not in labels:
            self.missed += 1
            return
        rel = np.zeros(len(labels), dtype=np.float32)
        rel[list(labels).index(target)] = 1.0
        self.x.append(rows)
        self.y.append(rel)
        self.typed.append(typed)
        self.projects.append(project)

    def with_code_after(self) -> "Groups":
        """The groups whose position has code after the cursor on its line (the after-cursor columns known)."""
        from codecomp.engine.ranker import INDEX

        known = INDEX["project_after_known"]
        keep = [i for i, x in enumerate(self.x) if x.shape[1] > known and x[0, known] > 0]
        return Groups([self.x[i] for i in keep], [self.y[i] for i in keep], [self.typed[i] for i in keep],
                      [self.projects[i] for i in keep], self.missed)

    def narrowed(self, width: int) -> "Groups":
        """The groups with the first `width` feature columns only."""
        return Groups([x[:, :width] for x in self.x], self.y, self.typed, self.projects, self.missed)

    def extend(self, other: "Groups") -> None:
        """Add the groups of another set (pooling runs)."""
        self.x += other.x
        self.y += other.y
        self.typed += other.typed
        self.projects += other.projects
        self.missed += other.missed

    def save(self, path: Path) -> None:
        """The groups as one .npz (rows, relevance, group sizes, typed lengths, projects), for re-fitting."""
        x, y, g = self.arrays()
        np.savez(path, x=x, y=y, sizes=np.array(g, dtype=np.int64), typed=np.array(self.typed, dtype=np.int64),
                 projects=np.array(self.projects), missed=np.array(self.missed))

    @classmethod
    def load(cls, path: Path) -> "Groups":
        """Groups saved by `save`."""
        with np.load(path, allow_pickle=False) as data:
            # each `data[key]` reads the whole array from the file again: read every array once
            x, y, sizes = data["x"], data["y"], data["sizes"]
            typed, projects, missed = data["typed"], data["projects"], int(data["missed"])
        ends = np.cumsum(sizes)
        starts = ends - sizes
        return cls(x=[x[s:e] for s, e in zip(starts, ends)], y=[y[s:e] for s, e in zip(starts, ends)],
                   typed=[int(t) for t in typed], projects=[str(p) for p in projects], missed=missed)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(x, y, group sizes) in LightGBM's layout."""
        if not self.x:
            raise ValueError("no position had its true identifier among the candidates")
        if len({r.shape[1] for r in self.x}) > 1:
            raise ValueError("the pooled feature sets have different columns (some were saved before a feature "
                             "was added): compute them again")
        return np.concatenate(self.x), np.concatenate(self.y), [len(r) for r in self.y]


def collect_groups(engine: Any, docs: Sequence[Any], positions: Iterable[tuple[int, int]],
                   typed: Sequence[int] = (0, 1), workspaces: Any = None,
                   progress: bool = True, desc: str = "ranker: features") -> Groups:
    """Ask the engine for the feature rows at every position and typed length (the identifier hidden).

    `workspaces` (a `codecomp.eval.project_context.ProjectWorkspaces`) gives each document's project as the
    workspace, exactly as the evaluation does; None: file only."""
    from codecomp.eval.project_context import shown_positions

    # the evaluation's own adapters open the documents, so the features are those of an evaluated request
    groups = Groups()
    for d, i, t, uri, line, col in shown_positions(engine, docs, positions, typed, workspaces, progress, desc):
        got = engine.ranker_rows(uri, line, col)
        if got is not None:
            labels, rows = got
            groups.add(rows, labels, docs[d].tokens[i], t, docs[d].project)
    return groups


def fit(train: Groups, valid: Groups, params: dict[str, Any] | None = None, ablation: str | None = None,
        log: Callable[[str], None] = print) -> tuple[Any, dict[str, Any]]:
    """A LambdaRank model on `train`, early-stopped on `valid` NDCG@5; (booster, figures)."""
    import lightgbm as lgb

    from codecomp.engine.ranker import ablate

    x, y, g = train.arrays()
    vx, vy, vg = valid.arrays()
    if ablation:
        x, vx = ablate(x, ablation), ablate(vx, ablation)
    # learning rate 0.1: the same valid NDCG as 0.05 with half the trees (0.709 vs 0.707 NDCG@1, 83 vs 167
    # trees), and the serving cost of the ensemble is proportional to its trees
    p = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [1, 5], "learning_rate": 0.1,
         "num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.9, "bagging_fraction": 0.9,
         "bagging_freq": 1, "lambdarank_truncation_level": 20, "verbose": -1, "seed": 0,
         "deterministic": True, "num_threads": 1}
    p.update(params or {})
    rounds = int(p.pop("num_rounds", 400))
    t0 = time.perf_counter()
    dtrain = lgb.Dataset(x, y, group=g)
    dvalid = lgb.Dataset(vx, vy, group=vg, reference=dtrain)
    booster = lgb.train(p, dtrain, num_boost_round=rounds, valid_sets=[dvalid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(30, verbose=False)])
    seconds = time.perf_counter() - t0
    best = booster.best_iteration or booster.current_iteration()
    scores = {k: float(v) for k, v in booster.best_score.get("valid", {}).items()}
    log(f"trained {best} trees in {seconds:.1f} s; valid {scores}")
    return booster, {"trees": best, "train_seconds": round(seconds, 1), "valid": scores,
                     "train_groups": len(g), "valid_groups": len(vg), "train_rows": int(x.shape[0])}


def to_onnx(booster: Any, n_features: int) -> bytes:
    """The booster as an ONNX graph: input `features` [N, n_features] float32, output one score per row."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = convert_lightgbm(booster, initial_types=[("features", FloatTensorType([None, n_features]))],
                             target_opset=15, zipmap=False)
    return model.SerializeToString()


def write_run(out: Path, booster: Any, figures: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """ranker.onnx + ranker.json in `out`, after checking that ONNX Runtime scores like LightGBM."""
    import onnxruntime as ort

    from codecomp.engine.ranker import FEATURES, VERSION

    out.mkdir(parents=True, exist_ok=True)
    # rows saved before a column was appended to FEATURES are narrower: the ranker reads that many columns
    features = FEATURES[:booster.num_feature()]
    blob = to_onnx(booster, len(features))
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    probe = np.random.default_rng(0).normal(size=(64, len(features))).astype(np.float32)
    diff = float(np.max(np.abs(sess.run(None, {"features": probe})[0].reshape(-1)
                              - booster.predict(probe, num_iteration=figures["trees"]))))
    if diff > 1e-3:
        raise RuntimeError(f"the ONNX ranker disagrees with LightGBM by {diff:.2e}; not written")
    (out / RANKER_FILE).write_bytes(blob)
    info = {"file": RANKER_FILE, "features": list(features), "version": VERSION, "parity_max_abs_diff": diff,
            "bytes": len(blob), **figures, **meta}
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def install_ranker(run: Path, artifact: Path) -> str:
    """Copy a trained ranker into an artifact folder and rewrite its manifest; returns the slot it went to:
    `models.ranker` (trained with project context: used where the workspace index gives evidence),
    `models.ranker_after` (`--after-only`: used where it does and code follows the cursor on its line) or
    `models.ranker_file` (trained on lone files, `--file-only`: used where it gives none)."""
    from codecomp.artifact import MANIFEST, write_manifest

    info = json.loads((run / INFO_FILE).read_text(encoding="utf-8"))
    manifest = json.loads((artifact / MANIFEST).read_text(encoding="utf-8"))
    slot = ("ranker_file" if not info.get("project_context", True) else
            "ranker_after" if info.get("after_only") else "ranker")
    shutil.copyfile(run / RANKER_FILE, artifact / f"{slot}.onnx")
    models = dict(manifest["models"])
    models[slot] = {k: info[k] for k in ("features", "version", "trees", "valid", "ablation", "project_context",
                                         "after_only") if k in info}
    models[slot]["file"] = f"{slot}.onnx"
    write_manifest(artifact, models, manifest.get("languages", []), manifest.get("training"))
    return slot


class RankerTrainingError(RuntimeError):
    """A ranker cannot be trained with these inputs; the message says why."""


def train_ranker(corpus: Path, out: Path, artifact: Path | None = None, positions: int = 2000, seed: int = 0,
                 ablation: str | None = None, project_context: bool = True, install: Path | None = None,
                 progress: bool = True, log: Callable[[str], None] = print,
                 features_from: Path | Sequence[Path] | None = None,
                 workspaces_from: Path | None = None, after_only: bool = False) -> dict[str, Any]:
    """The whole of `codecomp train ranker`: features from the train and valid splits, fit, export, install.

    The features are saved in the run folder (`features-train.npz`, `features-valid.npz`); `features_from` (run
    folders) re-fits on saved features instead of computing them again, e.g. for the ablations; the groups of
    several runs are pooled (e.g. positions asked with project context and file only, so that one ranker serves
    both).  `workspaces_from`: a corpus of whole projects (`codecomp.eval.project_context.whole_projects`) whose
    copy of each project is its workspace, as `codecomp eval --workspaces` does.  `after_only`: fit on the groups
    with code after the cursor on its line alone, for `models.ranker_after`; the other rankers do not read the
    after-cursor columns (a ranker fitted on both kinds leans on them and ranks worse where they are absent: on
    valid JS positions of a line being written among existing code, top-1 at typed 0 66.2 against 71.0 for the
    ranker without those columns)."""
    from codecomp.engine import Engine
    from codecomp.engine.ranker import GROUPS, INDEX
    from codecomp.eval.harness import docs_of, load_split, sample_identifier_positions

    if ablation is not None and ablation not in GROUPS:
        raise RankerTrainingError(f"--ablate must be one of {', '.join(GROUPS)}, not {ablation!r}")
    if after_only and not project_context:
        raise RankerTrainingError("--after-only needs project context (the after-cursor columns come from the "
                                  "workspace index)")
    engine = Engine.load(artifact)
    if getattr(engine, "problem", None):
        raise RankerTrainingError(f"the model does not load: {engine.problem}")
    engine.use_ranker(False)  # features are computed for the ranking the ranker replaces, not by an older ranker
    sources = [Path(features_from)] if isinstance(features_from, (str, Path)) else [Path(p) for p in features_from or ()]
    t0 = time.perf_counter()
    sets: dict[str, Groups] = {}
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", positions), ("valid", max(50, positions // 4))):
        if sources:
            sets[split] = Groups()
            for run in sources:
                saved = run / f"features-{split}.npz"
                if not saved.is_file():
                    raise RankerTrainingError(f"{saved} does not exist: train once without --features-from first")
                sets[split].extend(Groups.load(saved))
            if out.resolve() not in {run.resolve() for run in sources}:
                sets[split].save(out / f"features-{split}.npz")
            continue
        docs = docs_of(load_split(corpus, split, None, seed), progress, f"{split} files")
        if not docs:
            raise RankerTrainingError(f"the {split} split of {corpus} has no file with code tokens")
        chosen = sample_identifier_positions(docs, n, seed)
        workspaces = None
        if project_context:
            from codecomp.eval.project_context import ProjectWorkspaces, whole_projects

            whole = None
            if workspaces_from is not None:
                try:
                    whole = whole_projects(workspaces_from, split, docs)
                except ValueError as exc:
                    raise RankerTrainingError(str(exc)) from None
            workspaces = ProjectWorkspaces(docs, whole=whole)
        try:
            sets[split] = collect_groups(engine, docs, chosen, workspaces=workspaces, progress=progress,
                                         desc=f"ranker: {split} features")
        finally:
            if workspaces is not None:
                engine.set_workspace(None)
                workspaces.cleanup()
        log(f"{split}: {len(sets[split].y)} groups kept, {sets[split].missed} without the true identifier")
        if sets[split].y:
            sets[split].save(out / f"features-{split}.npz")
    feature_seconds = time.perf_counter() - t0
    if after_only:
        sets = {split: groups.with_code_after() for split, groups in sets.items()}
    else:
        # the after-cursor columns are read by the after-only ranker alone (see `after_only`)
        sets = {split: groups.narrowed(INDEX["project_after_lift"]) for split, groups in sets.items()}
    try:
        booster, figures = fit(sets["train"], sets["valid"], ablation=ablation, log=log)
    except ValueError as exc:
        raise RankerTrainingError(str(exc)) from None
    meta = {"corpus": str(corpus), "model": str(artifact) if artifact else "default", "positions": positions,
            "seed": seed, "ablation": ablation, "project_context": project_context,
            "workspaces": str(workspaces_from) if workspaces_from is not None else None,
            "features_from": [str(p) for p in sources] or None, "after_only": after_only,
            "feature_seconds": round(feature_seconds, 1)}
    info = write_run(out, booster, figures, meta)
    log(f"wrote {out / RANKER_FILE} ({info['bytes']:,} bytes)")
    if install is not None:
        slot = install_ranker(out, install)
        log(f"installed into {install} as models.{slot}")
    return info

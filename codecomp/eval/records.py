"""Per-position outcomes of one task, and what the report derives from them.

Every task records, for every position it scored, the file and project of the position and, per system, the
outcome at that position (a hit, a reciprocal rank, an edit similarity, keystrokes saved...).  From these
records come the per-project rows, the macro average over projects, and the paired bootstrap intervals of
"engine minus baseline"; report.json keeps the records themselves so that any comparison can be redone later.

Outcomes are grouped: a *group* is a set of positions asked the same question (identifiers with 0 characters
typed, ``t0``; lines, ``line``...) with one weight per position: 1 for a position that was asked, 0 for one
that was not (an identifier of one character is never asked with 1 character typed), or a count for ratio
metrics (characters to type, for keystrokes saved).  A group has fields (``top1``, ``mrr10``...), each a
per-position numerator with the scale that turns ``sum(num) / sum(weight)`` into the reported figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from codecomp.eval import metrics as M
from codecomp.eval.documents import FileDoc

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.95


@dataclass
class TaskRecords:
    """The positions of one task (file, project, position index) and every system's outcome at each."""

    files: list[str]                                   # "project/path" of each file id
    projects: list[str]                                # project of each file id
    file: list[int]                                    # file id of each position
    index: list[int]                                   # token index (or window start) of each position
    weights: dict[str, list[float]] = field(default_factory=dict)         # group -> per-position weight
    scales: dict[str, dict[str, float]] = field(default_factory=dict)     # group -> field -> scale
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # system -> "group.field" -> values

    @classmethod
    def of_positions(cls, labels: Sequence[tuple[str, str]], picks: Sequence[tuple[int, int]]) -> "TaskRecords":
        """Records for ``(file, index)`` positions, ``labels[file]`` being its (project, path); file ids are
        numbered in order of first use."""
        ids: dict[int, int] = {}
        files: list[str] = []
        projects: list[str] = []
        for d, _ in picks:
            if d not in ids:
                ids[d] = len(files)
                files.append(f"{labels[d][0]}/{labels[d][1]}")
                projects.append(labels[d][0])
        return cls(files, projects, [ids[d] for d, _ in picks], [i for _, i in picks])

    @classmethod
    def of_docs(cls, docs: Sequence[FileDoc], picks: Sequence[tuple[int, int]]) -> "TaskRecords":
        """Records for ``(doc, index)`` positions of held-out documents."""
        return cls.of_positions([(d.project, d.path) for d in docs], picks)

    def __len__(self) -> int:
        return len(self.file)

    def add_group(self, group: str, weights: Sequence[float], scales: Mapping[str, float]) -> None:
        """Declare a group: its per-position weights (shared by every system) and its fields' scales."""
        if len(weights) != len(self.file):
            raise ValueError(f"group {group!r} needs one weight per position ({len(weights)} vs {len(self.file)})")
        self.weights[group] = [float(w) for w in weights]
        self.scales[group] = dict(scales)

    def set(self, system: str, group: str, field_name: str, values: Sequence[float]) -> None:
        """One system's per-position numerators of one field (0 where the group's weight is 0)."""
        if group not in self.scales or field_name not in self.scales[group]:
            raise KeyError(f"{group}.{field_name} was not declared with add_group")
        if len(values) != len(self.file):
            raise ValueError(f"{system} {group}.{field_name}: {len(values)} values for {len(self.file)} positions")
        self.values.setdefault(system, {})[f"{group}.{field_name}"] = [float(v) for v in values]

    # ------------------------------------------------------------------------------------------ figures
    def _position_projects(self) -> list[str]:
        return [self.projects[f] for f in self.file]

    def _fields(self, system: str) -> list[tuple[str, str]]:
        have = self.values.get(system, {})
        return [(g, f) for g, scales in self.scales.items() for f in scales if f"{g}.{f}" in have]

    def pooled(self, system: str) -> dict[str, dict[str, float]]:
        """``group -> {"n", field: figure}`` over all positions."""
        everything = ["all"] * len(self.file)
        return self._by(system, everything).get("all", {})

    def by_project(self, system: str) -> dict[str, dict[str, dict[str, float]]]:
        """``project -> group -> {"n", field: figure}``; n counts the positions of that project scored in the group."""
        return self._by(system, self._position_projects())

    def _by(self, system: str, keys: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for group, fname in self._fields(system):
            per = M.grouped_ratios(self.values[system][f"{group}.{fname}"], self.weights[group], keys,
                                   self.scales[group][fname])
            for key, (n, value) in per.items():
                row = out.setdefault(key, {}).setdefault(group, {"n": n})
                row[fname] = value
        return dict(sorted(out.items()))

    def macro(self, system: str) -> dict[str, dict[str, float]]:
        """``group -> {"projects", field: mean over projects of the project's figure}``."""
        rows = self.by_project(system)
        out: dict[str, dict[str, float]] = {}
        for group, fname in self._fields(system):
            per = {p: r[group][fname] for p, r in rows.items() if group in r}
            if per:
                out.setdefault(group, {"projects": len(per)})[fname] = M.macro_average(per)
        return out

    def compare(self, system_a: str, system_b: str, seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES
                ) -> list[dict[str, Any]]:
        """``A - B`` with its paired file-bootstrap interval, for every field both systems have."""
        out = []
        have_b = set(self._fields(system_b))
        for group, fname in self._fields(system_a):
            if (group, fname) not in have_b or not any(w > 0 for w in self.weights[group]):
                continue
            key = f"{group}.{fname}"
            ci = M.paired_cluster_bootstrap(self.values[system_a][key], self.values[system_b][key],
                                            self.weights[group], self.file, n_resamples=n_resamples, seed=seed,
                                            level=BOOTSTRAP_LEVEL, scale=self.scales[group][fname])
            out.append({"a": system_a, "b": system_b, "metric": key,
                        "n": sum(1 for w in self.weights[group] if w > 0), **ci.as_dict()})
        return out

    def task_output(self, sample: Any, primary: str | None, seed: int, pairs: Sequence[tuple[str, str]] = ()
                    ) -> dict[str, Any]:
        """What a task adds to report.json: `summary` and the draw of its positions (a `sampling.Sample`)."""
        return {**self.summary(primary, seed, pairs), "sampling": sample.summary()}

    def summary(self, primary: str | None, seed: int, pairs: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """Pooled figures, per-project rows, macro averages, comparisons of ``primary`` with every other system
        and of each ``(a, b)`` of ``pairs`` (paired file bootstrap), and the records themselves."""
        systems = list(self.values)
        out: dict[str, Any] = {
            "pooled": {s: self.pooled(s) for s in systems},
            "by_project": {s: self.by_project(s) for s in systems},
            "macro": {s: self.macro(s) for s in systems},
            "comparisons": [],
            "records": self.to_json(),
        }
        if primary in self.values:
            for other in systems:
                if other != primary:
                    out["comparisons"] += self.compare(primary, other, seed)
        for a, b in pairs:
            if a in self.values and b in self.values:
                out["comparisons"] += self.compare(a, b, seed)
        return out

    # ---------------------------------------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        """Compact JSON form (integral values written as integers)."""
        def compact(xs: Sequence[float]) -> list[float | int]:
            return [int(x) if float(x).is_integer() else x for x in xs]

        return {"files": self.files, "projects": self.projects, "file": self.file, "index": self.index,
                "weights": {g: compact(w) for g, w in self.weights.items()}, "scales": self.scales,
                "values": {s: {k: compact(v) for k, v in vals.items()} for s, vals in self.values.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TaskRecords":
        """Records read back from report.json (to redo a comparison)."""
        rec = cls(list(data["files"]), list(data["projects"]), list(data["file"]), list(data["index"]))
        for group, weights in data["weights"].items():
            rec.add_group(group, weights, data["scales"][group])
        for system, vals in data["values"].items():
            for key, values in vals.items():
                group, fname = key.split(".", 1)
                rec.set(system, group, fname, values)
        return rec

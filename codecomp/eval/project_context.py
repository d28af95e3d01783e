"""Project context in the evaluation: the held-out file's own project is the workspace.

For a held-out file of project P, the other files of P in the evaluated split are the workspace: they are
written under a temporary folder at their paths inside P, one `WorkspaceIndex` is built per project from that
folder, and the held-out file itself exists only as the engine's open document with the hole (its text
replaces the file's copy in the index from `open` on, and the engine never counts a document's own copy for
its own completions).  `codecomp tune --project-context` builds its workspaces the same way.

A corpus keeps at most `max_tokens_per_project` tokens of a project, so a large project's files in the split are
only part of what an editor opened on that project would index.  `whole_projects` reads the same projects from
a corpus built from the same recipe without that budget (`codecomp corpus build --max-tokens-per-project 0`):
with it (`codecomp eval --workspaces`, `codecomp train ranker --workspaces`) every file of the project that
passed the filters is in the workspace.  Both corpora de-duplicate the same files the same way before the
budget, so no other file of a workspace is a copy or near copy of the held-out file.

`ProjectEngineSystem` is the engine seen through the harness with that context ("engine+project");
`RecordingEngineSystem` is the ordinary file-only engine ("engine"); `ProjectContextRun` wires both into
`run_evaluation`.  Both ask the engine for its whole list
(`FULL_LIST` items) and record, per typed length and target kind, whether the true identifier is anywhere in
it ("found %"), in its first 50 ("found@50"), and top-1 / top-5 / MRR@10; `found_summary` and
`found_markdown` turn those records into report.json and report.md tables.

Target kinds (a simple lexical rule on the held-out token stream):

* "member": the token before the identifier is `.`, `->` or `?.`;
* "type" (C++ only): the identifier is followed by `::`, by `<`, or by a declarator (another identifier, or
  `*` / `&` / `&&` and then an identifier) -- a type or namespace name, e.g. `std` in `std::`, `Widget` in
  `Widget w;` or `Widget* p`;
* "plain": every other identifier.
"""
from __future__ import annotations

import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from codecomp.eval.documents import FileDoc, Query
from codecomp.eval.engine_system import EngineSystem

FULL_LIST = 5000            # items asked of the engine for "found %": in practice the whole candidate list
FOUND_AT = 50               # "found@50": the true identifier among the items a client shows by default
MAX_INDEXES = 8             # project indexes kept at once (positions are visited project by project mostly)
KINDS = ("plain", "member", "type")
SPLIT_WORKSPACES = "the split's files of each project"   # the report's words for workspaces without `whole`
_MEMBER_OPS = frozenset({".", "->", "?."})
_REFS = frozenset({"*", "&", "&&"})


def target_kind(doc: FileDoc, i: int) -> str:
    """The kind of the identifier at token `i` (see the module docstring for the rule)."""
    tokens = doc.tokens
    if i > 0 and tokens[i - 1] in _MEMBER_OPS:
        return "member"
    if doc.lang == "cpp" and i + 1 < len(tokens):
        nxt = tokens[i + 1]
        if nxt in ("::", "<") or _is_name(nxt):
            return "type"
        if nxt in _REFS and i + 2 < len(tokens) and _is_name(tokens[i + 2]):
            return "type"
    return "plain"


def _is_name(token: str) -> bool:
    from codecomp.engine.lexing import is_identifier
    from codecomp.syntax import KEYWORDS

    return is_identifier(token) and token not in KEYWORDS["cpp"]


class ProjectWorkspaces:
    """One workspace folder and `WorkspaceIndex` per project of the evaluated files (built on first use).

    Every file of a project is written to `root/<project>/<path>`; while a held-out file is open in the engine
    its editor text replaces its disk copy in the index, so the index holds the other files of the project plus
    the document with the hole (which the engine leaves out of its own completions)."""

    def __init__(self, docs: Sequence[FileDoc], root: Path | None = None,
                 whole: dict[str, list[WholeFile]] | None = None) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="codecomp-projects-")) if root is None else Path(root)
        self.by_project: dict[str, list[FileDoc]] = {}
        for doc in docs:
            self.by_project.setdefault(doc.project, []).append(doc)
        self.whole = whole or {}  # project -> its files in a corpus without the per-project budget
        self._indexes: OrderedDict[str, Any] = OrderedDict()
        self.build_seconds = 0.0

    def folder(self, project: str) -> Path:
        """The workspace folder of a project (a name safe as one path component)."""
        safe = "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in project) or "_"
        return self.root / safe

    def path_of(self, doc: FileDoc | WholeFile) -> Path:
        """Where a file (held-out or from the whole project) lives in its project's workspace."""
        ext = {"cpp": ".cpp", "javascript": ".js"}.get(doc.lang, "")
        rel = doc.path if doc.path.endswith(ext) or not ext else doc.path + ext
        rel = rel.lstrip("/").replace("..", "__")
        return self.folder(doc.project) / rel

    def uri_of(self, doc: FileDoc) -> str:
        """The file:// URI of a held-out file (the engine maps it back to `path_of`)."""
        return self.path_of(doc).as_uri()

    def index_for(self, project: str) -> Any:
        """The project's index, written and built on first use (at most `MAX_INDEXES` kept)."""
        import time

        from codecomp.engine.workspace import DiscoveryConfig, WorkspaceIndex

        index = self._indexes.get(project)
        if index is not None:
            self._indexes.move_to_end(project)
            return index
        t0 = time.perf_counter()
        folder = self.folder(project)
        # `whole_projects` checked that the whole project holds every evaluated file with the same text
        for doc in self.whole.get(project) or self.by_project.get(project, []):
            path = self.path_of(doc)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(doc.text, encoding="utf-8", errors="surrogatepass")
        # every file of the project counts, whatever folder it sits in (`test/`, `third_party/`, ...)
        index = WorkspaceIndex([folder], DiscoveryConfig(skip_dirs=frozenset(), honour_gitignore=False))
        index.build()
        self._indexes[project] = index
        while len(self._indexes) > MAX_INDEXES:
            self._indexes.popitem(last=False)
        self.build_seconds += time.perf_counter() - t0
        return index

    def activate(self, engine: Any, doc: FileDoc) -> None:
        """Give the engine the workspace of `doc`'s project (a no-op when it already has it)."""
        index = self.index_for(doc.project)
        if getattr(engine, "workspace", None) is not index:
            engine.set_workspace(index)

    def cleanup(self) -> None:
        """Remove the folder this object created."""
        self._indexes.clear()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class WholeFile:
    """One file of a whole project (see `whole_projects`)."""

    project: str
    path: str
    lang: str
    text: str


def whole_projects(corpus: Path, split: str, docs: Sequence[FileDoc]) -> dict[str, list[WholeFile]]:
    """The files of the evaluated documents' projects in `corpus`'s `split` (a corpus built from the same
    recipe without the per-project token budget).  Raises `ValueError` when a project is missing there, or
    when an evaluated file is not in it with the same text (then it is not the same recipe and sources)."""
    from codecomp.corpus.reader import open_split

    wanted = {d.project for d in docs}
    ds = open_split(corpus, split, ("project", "path", "language", "text"))
    projects = ds["project"]
    rows = ds.select([i for i, p in enumerate(projects) if p in wanted])
    out: dict[str, list[WholeFile]] = {}
    for row in rows:
        out.setdefault(row["project"], []).append(WholeFile(row["project"], row["path"], row["language"],
                                                            row["text"]))
    missing = sorted(wanted - set(out))
    if missing:
        raise ValueError(f"the workspace corpus {corpus} has no {split} file of the project(s) "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; build it from the "
                         "evaluated corpus's recipe (codecomp corpus build RECIPE --max-tokens-per-project 0)")
    texts = {(f.project, f.path): f.text for files in out.values() for f in files}
    for d in docs:
        if texts.get((d.project, d.path)) != d.text:
            raise ValueError(f"{d.project}/{d.path} of the evaluated corpus is not in the workspace corpus "
                             f"{corpus} with the same text; build both from the same recipe and sources")
    return out


def load_ranker_run(run: Path) -> Any:
    """The learned ranker of a `codecomp train ranker` run folder (ranker.onnx + ranker.json)."""
    import json

    import onnxruntime as ort

    from codecomp.engine.ranker import Ranker

    info = json.loads((Path(run) / "ranker.json").read_text(encoding="utf-8"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(Path(run) / info.get("file", "ranker.onnx")), options,
                                   providers=["CPUExecutionProvider"])
    return Ranker(session, info)


class RecordingEngineSystem(EngineSystem):
    """The engine through the harness, asking for its whole list and recording found % (see the module
    docstring); the harness scores the first `k` items as usual."""

    def __init__(self, engine: Any, name: str = "engine") -> None:
        super().__init__(engine, name)
        self.found: dict[tuple[int, str], list[tuple[bool, bool, int | None]]] = {}

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """The first `k` labels; the whole list's outcome for the true identifier is recorded (only the
        identifier task asks for the whole list: the other tasks and their latencies stay as they were)."""
        if self.task != "identifiers":
            return super().rank(q, k)
        served, self.max_items = self.max_items, FULL_LIST
        try:
            labels = [c.label for c in self.complete(q).items]
        finally:
            self.max_items = served
        target = q.target
        r = labels.index(target) + 1 if target in labels else None
        key = (len(q.typed), target_kind(q.doc, q.index))
        self.found.setdefault(key, []).append((r is not None, r is not None and r <= FOUND_AT, r))
        return labels[:k]


class ProjectEngineSystem(RecordingEngineSystem):
    """The engine with its project's workspace index ("engine+project"): identifier completion, and line
    completion (fragments with the project's lines) when the evaluation asks for it."""

    tasks = frozenset({"identifiers", "lines"})

    def __init__(self, engine: Any, workspaces: ProjectWorkspaces, name: str = "engine+project") -> None:
        super().__init__(engine, name)
        self.workspaces = workspaces

    def uri_of(self, doc: FileDoc) -> str:
        """The held-out file's path in its project's workspace folder."""
        return self.workspaces.uri_of(doc)

    def start_file(self, doc: FileDoc) -> None:
        """Close the previous file and switch the engine to this file's project."""
        super().start_file(doc)
        self.workspaces.activate(self.engine, doc)


def shown_positions(engine: Any, docs: Sequence[FileDoc], positions: Iterable[tuple[int, int]],
                    typed: Sequence[int], workspaces: ProjectWorkspaces | None = None, progress: bool = True,
                    desc: str = "positions") -> Iterator[tuple[int, int, int, str, int, int]]:
    """(document, token, typed length, uri, line, UTF-16 column) for every position and typed length, the
    identifier hidden and its first `typed` characters typed, each shown to the engine by the evaluation's own
    adapters (with each file's project as the workspace when `workspaces` is given), so that tuning and ranker
    training ask exactly what the evaluation asks.  Lengths the identifier does not exceed are skipped."""
    from tqdm import tqdm

    shown = ProjectEngineSystem(engine, workspaces) if workspaces is not None else EngineSystem(engine)
    try:
        for d, i in tqdm(list(positions), desc=desc, disable=not progress, leave=False):
            doc = docs[d]
            target = doc.tokens[i]
            for t in typed:
                if t and len(target) <= t:
                    continue
                yield (d, i, t, *shown.show(Query(doc, i, target[:t], "blank")))
    finally:
        shown.close_all()


class ProjectContextRun:
    """The hooks of one `codecomp eval` run with project context: the file-only engine system (recording
    found %), a factory of the project-context system for `run_evaluation(extra_systems=...)` (its own engine,
    so that neither's per-document caches leak into the other), and the summary it adds to the result."""

    def __init__(self, engine: Any, engine_factory: Any, engine_name: str = "engine",
                 rankers: Sequence[tuple[str, Path]] = (), whole: tuple[Path, str] | None = None) -> None:
        self.engine_system = RecordingEngineSystem(engine, engine_name)
        self.engine_factory = engine_factory
        self.rankers = list(rankers)
        self.whole = whole  # (corpus, split) of whole projects as the workspaces; None: the split's files
        self.project_system: ProjectEngineSystem | None = None
        self.ranker_systems: list[ProjectEngineSystem] = []
        self.workspaces: ProjectWorkspaces | None = None

    def extra_systems(self, docs: Sequence[FileDoc]) -> list[ProjectEngineSystem]:
        """The project-context system for the evaluated files, and one per learned ranker to compare (each
        ranks the same candidates with its ranker; it is compared with the project-context system)."""
        whole = None
        if self.whole:
            from codecomp.eval.harness import EvalError

            try:
                whole = whole_projects(self.whole[0], self.whole[1], docs)
            except ValueError as exc:
                raise EvalError(str(exc)) from None
        self.workspaces = ProjectWorkspaces(docs, whole=whole)
        base = f"{self.engine_system.name}+project"
        self.project_system = ProjectEngineSystem(self.engine_factory(), self.workspaces, base)
        for name, run in self.rankers:
            engine = self.engine_factory()
            engine.ranker = load_ranker_run(run)
            engine.use_ranker(True)
            system = ProjectEngineSystem(engine, self.workspaces, f"{base}+{name}")
            system.tasks = frozenset({"identifiers"})  # a ranker orders the list; fragments are not its business
            system.compare_with = base
            self.ranker_systems.append(system)
        return [self.project_system, *self.ranker_systems]

    def attach(self, result: Any) -> None:
        """Put the side-by-side found % table into the identifier task of an `EvalResult`."""
        ident = result.tasks.get("identifiers")
        if ident is not None and self.project_system is not None:
            ident["project_context"] = found_summary([self.engine_system, self.project_system,
                                                      *self.ranker_systems])
            ident["project_context"]["workspaces"] = (
                f"whole projects from {self.whole[0].name}" if self.whole else SPLIT_WORKSPACES)
            result.seconds["project_indexes"] = round(self.workspaces.build_seconds, 1)

    def cleanup(self) -> None:
        """Remove the workspace folders."""
        if self.workspaces is not None:
            self.workspaces.cleanup()


def found_summary(systems: Iterable[RecordingEngineSystem]) -> dict[str, Any]:
    """{system: {"t<typed>": {kind | "all": {n, found, found50, top1, top5, mrr10}}}} (percentages; MRR 0-1)."""
    out: dict[str, Any] = {}
    for sysm in systems:
        per: dict[str, Any] = {}
        typed_lengths = sorted({t for t, _ in sysm.found})
        for t in typed_lengths:
            rows: dict[str, Any] = {}
            for kind in (*KINDS, "all"):
                recs = [r for (tt, k), v in sysm.found.items() if tt == t and (kind == "all" or k == kind) for r in v]
                if recs:
                    rows[kind] = _scores(recs)
            per[f"t{t}"] = rows
        out[sysm.name] = per
    return {"systems": out, "full_list": FULL_LIST, "found_at": FOUND_AT,
            "kinds_rule": "member: after . -> ?.; type (C++): followed by ::, <, or a declarator; plain: the rest"}


def _scores(recs: Sequence[tuple[bool, bool, int | None]]) -> dict[str, float]:
    n = len(recs)
    ranks = [r for _, _, r in recs]
    return {"n": n,
            "found": round(100.0 * sum(f for f, _, _ in recs) / n, 2),
            "found50": round(100.0 * sum(f for _, f, _ in recs) / n, 2),
            "top1": round(100.0 * sum(r is not None and r <= 1 for r in ranks) / n, 2),
            "top5": round(100.0 * sum(r is not None and r <= 5 for r in ranks) / n, 2),
            "mrr10": round(sum(1.0 / r for r in ranks if r is not None and r <= 10) / n, 4)}


def found_markdown(summary: dict[str, Any]) -> str:
    """The side-by-side table of report.md (file-only vs project context, by typed length and target kind)."""
    workspaces = summary.get("workspaces", SPLIT_WORKSPACES)
    lines = ["## Identifiers: file only vs project context", "",
             f"found %: the true identifier anywhere in the engine's whole list (up to {summary['full_list']} "
             f"items); found@{summary['found_at']}: in its first {summary['found_at']}. Target kinds: "
             f"{summary['kinds_rule']}. Workspaces: {workspaces}.", "",
             "| system | typed | kind | n | found % | found@50 % | top-1 % | top-5 % | MRR@10 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, per in summary["systems"].items():
        for typed, rows in per.items():
            for kind, r in rows.items():
                lines.append(f"| {name} | {typed[1:]} | {kind} | {r['n']} | {r['found']:.1f} | {r['found50']:.1f} | "
                             f"{r['top1']:.1f} | {r['top5']:.1f} | {r['mrr10']:.3f} |")
    return "\n".join(lines) + "\n"

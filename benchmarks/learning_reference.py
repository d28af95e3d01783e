"""Learning from the user: what an index of the files typed before gives, at the learning evaluation's positions.

The learner of a workspace (`codecomp.engine.learning`) knows of the project's other files only the names the
user typed there.  This benchmark puts a bound-like reference beside its gain: at the positions that
`codecomp eval --tasks learning` measures in the second half of each project's files, the same engine is asked
without and with a workspace index holding exactly the files the simulated user typed before the current one
(never the current file, never a later one), as the project-context evaluation would index them.  Learning is off
in both; the figure is top-1 with nothing typed and with one character typed.

    python benchmarks/learning_reference.py --corpus data/cpp-valid-extra --split valid --language cpp

Same projects, files, order and positions as the learning evaluation (`learning_eval.plan`).  The "without"
column is close to the evaluation's "off" but need not equal it: there the engine is asked in between with
learning on.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from learning_tune import engine_and_docs, learning_arguments  # noqa: E402


def reference(engine: Any, docs: Sequence[Any], opts: Any, root: Path) -> list[tuple[str, int, int, int, bool, bool]]:
    """(project, file number, typed, files in the index, top-1 without, top-1 with) per measured position."""
    from codecomp.engine.workspace import WorkspaceIndex
    from codecomp.eval.documents import Query
    from codecomp.eval.learning_eval import _rank, _Sim, plan, project_files

    class _FolderSim(_Sim):
        """The evaluation's adapter with each file at its evaluation name under a real project folder."""

        folder: Path

        def path_of(self, doc: Any) -> Path:
            return self.folder / super().uri_of(doc).split(f"/{doc.project}/", 1)[1]

        def uri_of(self, doc: Any) -> str:
            return self.path_of(doc).as_uri()

    from tqdm import tqdm

    out = []
    for project in tqdm(sorted({d.project for d in docs}), desc="projects", leave=False):
        files = project_files(docs, project, opts)
        _, second, _ = plan(files, opts, project)
        folder = root / project
        folder.mkdir(parents=True)
        sim = _FolderSim(engine, "reference", max_items=10)
        sim.folder = folder
        index = WorkspaceIndex([folder])
        index.build()
        written = 0
        try:
            for f, doc in enumerate(files):
                wanted = sorted(i for (g, i) in second if g == f)
                if not wanted:
                    continue
                while written < f:   # the files typed before this one, as saved
                    path = sim.path_of(files[written])
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(files[written].text, encoding="utf-8")
                    index.update_file(path)
                    written += 1
                indexed = index.stats()["files"]
                for i in wanted:
                    target = doc.tokens[i]
                    for t in ([0, 1] if len(target) > 1 else [0]):
                        engine.set_workspace(None)
                        off = _rank(sim.complete(Query(doc, i, target[:t], "left")), target)
                        engine.set_workspace(index)
                        on = _rank(sim.complete(Query(doc, i, target[:t], "left")), target)
                        out.append((project, f, t, indexed, off == 1, on == 1))
                sim.close_all()
        finally:
            engine.set_workspace(None)
            sim.close_all()
    return out


def main(argv: list[str] | None = None) -> list[tuple[str, int, int, int, bool, bool]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    learning_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="a few files and positions per project (a smoke run)")
    args = parser.parse_args(argv)

    from codecomp.eval.learning_eval import LearningOptions

    engine, docs = engine_and_docs(args)
    opts = LearningOptions.quick(args.seed) if args.quick else LearningOptions(measured=args.measured, seed=args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="codecomp-reference-") as tmp:
        for lang in sorted({d.lang for d in docs}):
            found = reference(engine, [d for d in docs if d.lang == lang], opts, Path(tmp) / lang)
            rows += [(lang, *r) for r in found]
    print(f"{'lang':<11} {'project':<16} typed {'n':>5} {'without':>8} {'with index':>10} {'gain':>6}")
    groups = {(r[0], r[1], r[3]) for r in rows}
    for key in sorted(groups) + sorted({(lang, "ALL", t) for lang, _, t in groups}):
        lang, project, t = key
        sel = [r for r in rows if r[0] == lang and r[3] == t and project in ("ALL", r[1])]
        off = 100.0 * sum(r[5] for r in sel) / len(sel)
        on = 100.0 * sum(r[6] for r in sel) / len(sel)
        print(f"{lang:<11} {project:<16} {t:>5} {len(sel):>5} {off:8.1f} {on:10.1f} {on - off:+6.1f}")
    return [r[1:] for r in rows]


if __name__ == "__main__":
    main()

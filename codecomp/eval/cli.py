"""`codecomp eval`: evaluate the engine and the baselines on the held-out split of a corpus.

Heavy imports (datasets, matplotlib) happen inside the command so that `codecomp --help` stays light.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def eval_command(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder written by `codecomp corpus build`."),
    out: Path = typer.Option(..., "--out", help="Folder for report.json, report.md and the plots."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model artifact folder (default: the shipped model)."),
    split: str = typer.Option("test", "--split", help="Held-out split to evaluate on."),
    tasks: str = typer.Option("all", "--tasks",
                              help="Comma-separated tasks among tokens, identifiers, lines, line_starts, "
                                   "keystrokes, char, naming, latency, learning; all: every one."),
    max_positions: int = typer.Option(300, "--max-positions", help="Positions sampled per task (tokens: tokens)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the position sampling."),
    quick: bool = typer.Option(False, "--quick", help="A few positions per task and a small baseline training "
                                                     "set: seconds, for CI."),
    runs: Optional[List[Path]] = typer.Option(None, "--runs", help="Training run folders for learning curves "
                                                                  "(default: those named by the artifact)."),
    max_train_files: Optional[int] = typer.Option(None, "--max-train-files",
                                                  help="Train the baselines on at most this many train files."),
    baselines_from: Optional[Path] = typer.Option(
        None, "--baselines-from", metavar="CORPUS",
        help="Train the baselines on this corpus's train split instead of the evaluated corpus's (for a corpus "
             "of held-out projects only, such as corpora/cpp-valid-extra.toml)."),
    workspaces: Optional[Path] = typer.Option(
        None, "--workspaces", metavar="CORPUS",
        help="Project context: take each project's workspace from this corpus (the evaluated corpus's recipe "
             "built with `codecomp corpus build --max-tokens-per-project 0`: whole projects, as an editor would "
             "index them) instead of the split's files, which a corpus's per-project budget may have cut."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    project_context: bool = typer.Option(True, "--project-context/--file-only",
                                         help="Also score identifiers with each file's project as the engine's "
                                              "workspace (\"engine+project\", beside the file-only engine)."),
    compare_greedy: bool = typer.Option(True, "--greedy/--no-greedy",
                                        help="Line tasks: also score the engine with the greedy fragment decoder "
                                             "of earlier versions (\"engine-greedy\")."),
    rankers: Optional[List[Path]] = typer.Option(None, "--compare-ranker",
                                                 help="A `codecomp train ranker` run folder: its ranker ranks the "
                                                      "project-context engine's candidates, scored and compared "
                                                      "beside the hand-set mix (repeatable; named after the folder)."),
) -> None:
    """Score the engine and the baselines on the same held-out positions and write a report."""
    greedy = compare_greedy
    from codecomp.eval.harness import ALL_TASKS, EvalError, EvalOptions, run_evaluation
    from codecomp.eval.report import runs_from_manifest, write_report

    chosen = tuple(t.strip() for t in tasks.split(",") if t.strip())
    try:
        opts = EvalOptions(split=split, tasks=ALL_TASKS if chosen == ("all",) else chosen,
                           max_positions=max_positions, seed=seed, quick=quick, progress=progress,
                           max_train_files=max_train_files, baseline_corpus=baselines_from)
    except EvalError as exc:
        typer.echo(f"codecomp eval: {exc}", err=True)
        raise typer.Exit(2)
    if model is not None and not model.exists():
        typer.echo(f"codecomp eval: the model folder {model} does not exist", err=True)
        raise typer.Exit(2)
    if workspaces is not None and not workspaces.is_dir():
        typer.echo(f"codecomp eval: the --workspaces corpus {workspaces} does not exist", err=True)
        raise typer.Exit(2)
    from codecomp.engine import Engine

    engine = Engine.load(model)
    problem = getattr(engine, "problem", None)
    if problem:
        typer.echo(f"codecomp eval: warning: {problem}", err=True)
    hooks = None
    if project_context and {"identifiers", "lines", "line_starts"} & set(opts.tasks):
        from codecomp.eval.project_context import ProjectContextRun

        def plain_engine():
            # the project-context systems rank with the hand-set mix unless they are given a ranker to compare
            eng = Engine.load(model)
            eng.use_ranker(False)
            return eng

        hooks = ProjectContextRun(engine, plain_engine if rankers else (lambda: Engine.load(model)), "engine",
                                  [(Path(r).name, Path(r)) for r in rankers or ()],
                                  (workspaces, split) if workspaces is not None else None)
    extra = hooks.extra_systems if hooks else None
    if greedy and {"lines", "line_starts"} & set(opts.tasks) and getattr(engine, "fragment_mode", None):
        # the single-path decoder of earlier versions, on the same positions
        from codecomp.eval.engine_system import EngineSystem

        greedy_engine = Engine.load(model)
        greedy_engine.fragment_mode = "greedy"
        greedy_system = EngineSystem(greedy_engine, "engine-greedy")
        greedy_system.tasks = frozenset({"lines"})
        before = extra
        extra = (lambda docs: [*(before(docs) if before else ()), greedy_system])
    try:
        result = run_evaluation(engine, "engine", corpus, opts, artifact_path=model,
                                engine_system=hooks.engine_system if hooks else None,
                                extra_systems=extra)
        if hooks is not None:
            hooks.attach(result)
    except EvalError as exc:
        typer.echo(f"codecomp eval: {exc}", err=True)
        raise typer.Exit(2)
    finally:
        if hooks is not None:
            hooks.cleanup()
    run_dirs = list(runs) if runs else runs_from_manifest(model)
    written = write_report(result, out, run_dirs)
    typer.echo(f"wrote {written['md']} and {written['json']}")
    ident = result.tasks.get("identifiers", {}).get("systems", {})
    for name, res in ident.items():
        r = res.get("all", {}).get("all", {})
        t0, t1 = r.get("t0", {}), r.get("t1", {})
        if t0:
            typer.echo(f"  {name:18s} identifiers top-1 typed0 {t0['top1']:5.1f}%  typed1 {t1.get('top1', 0):5.1f}%")
    for lang, res in result.tasks.get("learning", {}).get("languages", {}).items():
        for group in ("second_half", "first_file"):
            t0, t1 = res[group]["t0"], res[group]["t1"]
            if t0["n"]:
                typer.echo(f"  learning {lang:10s} {group:11s} top-1 typed0 off {t0['off']:5.1f}% on {t0['on']:5.1f}% "
                           f"({t0['gain']:+.1f})  typed1 off {t1['off']:5.1f}% on {t1['on']:5.1f}% ({t1['gain']:+.1f})"
                           f"  n={t0['n']}")

"""`--help` of every command: flags without a value placeholder, defaults and command summaries printed in full.

Typer carries its own copy of click, so commands and parameters are recognised by their attributes here.
"""
from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from codecomp.cli import app

runner = CliRunner()
ROOT = typer.main.get_command(app)


def command_paths(cmd, path: tuple[str, ...] = ()) -> list:
    out = [(path, cmd)]
    if hasattr(cmd, "list_commands"):  # a group: ask it, so that commands it builds on first use are listed too
        ctx = type(cmd).context_class(cmd)
        for name in cmd.list_commands(ctx):
            out += command_paths(cmd.get_command(ctx, name), (*path, name))
    return out


COMMANDS = command_paths(ROOT)


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"", "demo", "train", "complete", "eval", "name", "sample", "export", "tune", "serve", "corpus",
            "corpus build", "corpus stats"} <= names


def _unwrapped(text: str) -> str:
    """The help with its line wrapping undone (a word broken across lines stays broken)."""
    return re.sub(r"\s*\n\s*", " ", text)


@pytest.mark.parametrize("columns", ["80", "200"])
@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) or "codecomp" for p, _ in COMMANDS])
def test_help_has_no_bool_placeholder_and_full_defaults(path: tuple[str, ...], cmd, columns: str) -> None:
    res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": columns})
    assert res.exit_code == 0, res.output
    out = res.output
    assert "<bool>" not in out and "BOOLEAN" not in out and "boolean" not in out.lower().replace("--", "")
    assert "…" not in out
    flat = _unwrapped(out)
    ctx = cmd.context_class(cmd, info_name=path[-1] if path else "codecomp")
    shown = 0
    for param in cmd.get_params(ctx):
        if param.param_type_name != "option":
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        opts, help_text = record
        if getattr(param, "is_flag", False) and not param.secondary_opts:
            # a plain flag is written as itself, with no value placeholder after it
            assert re.search(rf"(^|\s){re.escape(param.opts[-1])}(\s|,|$)", out, re.M), opts
            assert not re.search(rf"{re.escape(param.opts[-1])}\s+<", out), opts
        if param.secondary_opts:
            assert f"{param.opts[0]} / {param.secondary_opts[0]}" in out
        for default in re.findall(r"\[default: [^\]]*\]", help_text):
            assert re.sub(r"\s+", " ", default) in flat, (opts, default)
            shown += 1
    if path in (("eval",), ("demo",), ("train",)):
        assert shown >= 1       # these commands do have defaults: the check above is not vacuous


def test_command_summaries_are_not_cut() -> None:
    for path, cmd in COMMANDS:
        if not hasattr(cmd, "commands"):
            continue
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}).output
        listing = out.split("Commands:", 1)[1]
        for line in listing.strip().splitlines():
            assert not line.rstrip().endswith("..."), line


def test_eval_tasks_default_is_short_and_means_all() -> None:
    out = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "80"}).output
    assert "[default: all]" in out
    from codecomp.eval.harness import ALL_TASKS

    for task in ALL_TASKS:
        assert task in out


def test_eval_tasks_all_runs_every_task(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import codecomp.eval.harness as harness

    seen = []

    def stop(engine, name, corpus, opts, **kwargs):
        seen.append(opts.tasks)
        raise harness.EvalError("stopped by the test")

    monkeypatch.setattr(harness, "run_evaluation", stop)
    for args in ([], ["--tasks", "all"], ["--tasks", "lines,char"]):
        res = runner.invoke(app, ["eval", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"),
                                  "--no-progress", "--file-only", *args])
        assert res.exit_code == 2 and "stopped by the test" in res.output
    assert seen == [harness.ALL_TASKS, harness.ALL_TASKS, ("lines", "char")]

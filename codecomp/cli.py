"""The `codecomp` command line: one command (or group) per stage of the pipeline.

Each stage keeps its command in its own package; this file only assembles them.  Modules imported here must
stay light at import time (no torch, no datasets): heavy imports happen inside the command functions, so that
`codecomp --help` and the serving commands work on the base install.  The commands of `training` and
`lsp_server` are imported only when they run or a help text lists them: the `codecomp` package itself never
imports those two (tests/test_layering.py), and `codecomp complete` or `codecomp name` never loads them.
"""
from __future__ import annotations

from typing import Any, Callable

import click
import typer
from typer.core import TyperGroup

from codecomp.corpus.cli import app as corpus_app
from codecomp.engine.cli import complete_command
from codecomp.engine.naming_cli import name_command
from codecomp.eval.cli import eval_command
from codecomp.eval.tune import tune_command
from codecomp.demo import demo_command


def _train_command() -> Callable[..., Any]:
    from training.cli import train_command

    return train_command


def _sample_command() -> Callable[..., Any]:
    from training.cli import sample_command

    return sample_command


def _export_command() -> Callable[..., Any]:
    from training.export import export_command

    return export_command


def _serve_command() -> Callable[..., Any]:
    from lsp_server.cli import serve_command

    return serve_command


# Commands of other packages: name -> (loader, help), and where each stands in the help's list.
_LAZY: dict[str, tuple[Callable[[], Callable[..., Any]], str]] = {
    "train": (_train_command, "Train a model (char, token, tree or ranker) on a corpus."),
    "sample": (_sample_command, "Generate code with a trained char-LSTM."),
    "export": (_export_command, "Export trained models to an ONNX artifact the engine can serve."),
    "serve": (_serve_command, "Run the language server (stdio by default)."),
}
_ORDER = ("demo", "train", "sample", "export", "complete", "name", "eval", "tune", "serve", "corpus")


class _Commands(TyperGroup):
    """The `codecomp` group: the commands in `_LAZY` are built from their module when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n in _ORDER if n in self.commands or n in _LAZY]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _LAZY:
            load, help_text = _LAZY[cmd_name]
            one = typer.Typer(add_completion=False, rich_markup_mode=None)
            one.command(cmd_name, help=help_text)(load())
            self.commands[cmd_name] = typer.main.get_command(one)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="codecomp",
    help="Local neural code completion for C++ and JavaScript: build corpora, train, evaluate and serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help (click's layout) for every command: flags read `--flag` or `--flag / --no-flag` with no value
    # placeholder, and defaults are wrapped, never cut off (the boxed layout truncates long ones).
    rich_markup_mode=None,
    cls=_Commands,
)

app.command("demo", help="Show completions, a fragment, a name suggestion and generated code on bundled samples.",
            short_help="Show the shipped model at work on two bundled samples.")(demo_command)
app.add_typer(corpus_app, name="corpus", help="Build and inspect corpora of real C++ and JavaScript code.")
app.command("complete", help="Print ranked completions and a fragment at FILE:LINE:COL.")(complete_command)
app.command("name", help="Suggest names for the symbol at FILE:LINE:COL.")(name_command)
app.command("eval", help="Evaluate a model and baselines on held-out projects and write a report.",
            short_help="Evaluate a model and baselines on held-out projects.")(eval_command)
app.command("tune", help="Tune the engine's ranking weights on the valid split (never test).",
            short_help="Tune the ranking weights on the valid split (never test).")(tune_command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

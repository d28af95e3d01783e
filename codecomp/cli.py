"""The `codecomp` command line: one command (or group) per stage of the pipeline.

Each stage keeps its command in its own package; this file only assembles them.  Modules imported here must
stay light at import time (no torch, no datasets): heavy imports happen inside the command functions, so that
`codecomp --help` and the serving commands work on the base install.
"""
from __future__ import annotations

import typer

from codecomp.corpus.cli import app as corpus_app
from codecomp.engine.cli import complete_command
from codecomp.engine.naming_cli import name_command
from codecomp.eval.cli import eval_command
from codecomp.eval.tune import tune_command
from codecomp.demo import demo_command
from lsp_server.cli import serve_command
from training.cli import sample_command, train_command
from training.export import export_command

app = typer.Typer(
    name="codecomp",
    help="Local neural code completion for C++ and JavaScript: build corpora, train, evaluate and serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help (click's layout) for every command: flags read `--flag` or `--flag / --no-flag` with no value
    # placeholder, and defaults are wrapped, never cut off (the boxed layout truncates long ones).
    rich_markup_mode=None,
)

app.command("demo", help="Show completions, a fragment, a name suggestion and generated code on bundled samples.",
            short_help="Show the shipped model at work on two bundled samples.")(demo_command)
app.add_typer(corpus_app, name="corpus", help="Build and inspect corpora of real C++ and JavaScript code.")
app.command("train", help="Train a model (char, token, tree or ranker) on a corpus.")(train_command)
app.command("sample", help="Generate code with a trained char-LSTM.")(sample_command)
app.command("export", help="Export trained models to an ONNX artifact the engine can serve.")(export_command)
app.command("complete", help="Print ranked completions and a fragment at FILE:LINE:COL.")(complete_command)
app.command("name", help="Suggest names for the symbol at FILE:LINE:COL.")(name_command)
app.command("eval", help="Evaluate a model and baselines on held-out projects and write a report.",
            short_help="Evaluate a model and baselines on held-out projects.")(eval_command)
app.command("tune", help="Tune the engine's ranking weights on the valid split (never test).",
            short_help="Tune the ranking weights on the valid split (never test).")(tune_command)
app.command("serve", help="Run the language server (stdio by default).")(serve_command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

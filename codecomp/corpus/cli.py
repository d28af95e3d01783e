"""Placeholder: the corpus commands are being built (see docs/design.md)."""
import typer

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build() -> None:
    """Not available yet."""
    raise typer.Exit(2)

"""Placeholder: this command is being built (see docs/design.md)."""
import typer


def name_command() -> None:
    """Not available yet."""
    typer.echo("codecomp: this command is not available in this build yet", err=True)
    raise typer.Exit(2)

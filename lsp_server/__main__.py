"""`python -m lsp_server`: the same as `codecomp serve`."""
import typer

from lsp_server.cli import serve_command

if __name__ == "__main__":
    typer.run(serve_command)

"""`python -m lsp_server`: the same as `codecomp serve`.

Start it with `python -P -m lsp_server` (or the `codecomp serve` console script): plain `-m` puts the working
directory first on the module search path, and editors often start servers inside the user's workspace, where
a file such as `typer.py` would then be imported in place of the real module.  When started without `-P`
anyway, the working directory is taken off the path before anything else is imported; the package itself has
already been found by then, so this is a second line of defence, not a replacement for `-P`.
"""
import os
import sys


def _drop_working_directory() -> None:
    """Remove the entry `-m` added for the working directory (nothing to do under -P / PYTHONSAFEPATH)."""
    if sys.flags.safe_path or not sys.path:
        return
    try:
        first = os.path.realpath(sys.path[0] or os.curdir)
        cwd = os.path.realpath(os.getcwd())
    except OSError:  # a deleted working directory: nothing importable can come from it
        return
    if first == cwd:
        del sys.path[0]


if __name__ == "__main__":
    _drop_working_directory()
    import typer

    from lsp_server.cli import serve_command

    typer.run(serve_command)

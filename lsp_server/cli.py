"""`codecomp serve`: run the language server over stdio (default) or TCP."""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional

import typer

LEVELS = ("error", "warning", "info", "debug")


def _parse_tcp(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"expected HOST:PORT such as 127.0.0.1:2087, got {value!r}")
    return host or "127.0.0.1", int(port)


def serve_command(
    tcp: Optional[str] = typer.Option(
        None, "--tcp", metavar="HOST:PORT", help="Listen on HOST:PORT for one editor instead of using stdin/stdout."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", metavar="PATH",
        help="Model artifact folder (default: the model shipped with codecomp). The editor's `modelPath` "
        "setting overrides it.",
    ),
    log_level: Optional[str] = typer.Option(
        None, "--log-level", metavar="LEVEL", help="Log verbosity on stderr: error, warning, info or debug."
    ),
) -> None:
    """Run the codecomp language server (completion, inline completion, rename suggestions).

    Editors start it with stdin/stdout as the LSP channel; logs go to stderr.  See docs/editors.md.
    """
    if log_level is not None and log_level.lower() not in LEVELS:
        raise typer.BadParameter(f"--log-level must be one of {', '.join(LEVELS)}, got {log_level!r}")
    address = _parse_tcp(tcp) if tcp else None
    if model is not None and not os.path.isdir(model):
        typer.echo(f"codecomp serve: warning: --model {model!r} is not a folder; the fallback engine will be used "
                   "until a valid model path is configured", err=True)
    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, (log_level or "warning").upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from lsp_server import gc_policy
    from lsp_server.server import create_server

    gc_policy.for_serving()

    server = create_server(model_path=model, log_level=log_level.lower() if log_level else None)
    if address is not None:
        server.start_tcp(*address)
    else:
        # Keep the LSP channel private: anything else that prints (a library, a stray print) goes to stderr.
        channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
        server.start_io(sys.stdin.buffer, channel)
    sys.stderr.flush()
    # Leave at once: an engine step still running on the worker thread must not delay the exit.
    os._exit(server.exit_code)

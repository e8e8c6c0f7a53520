"""`ecgspec lsp`: registered with the other commands; pygls is imported only when it runs."""

from __future__ import annotations

import argparse
import sys


def cmd_lsp(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from .server import serve
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] not in ("pygls", "lsprotocol", "cattrs"):
            raise
        print(
            "ecgspec lsp: the language server needs pygls 2 or later, which is not installed; "
            "install it with: pip install 'ecgspec[lsp]'",
            file=sys.stderr,
        )
        return 1
    serve()
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lsp",
        help="run the language server for editors (over stdin and stdout; needs the lsp extra)",
        description="A language server for .ecg files: check's diagnostics as you type, explain on hover, "
        "go to definition across imports, completion and fmt. Editors start it; it talks LSP on stdin/stdout.",
    )
    p.set_defaults(func=cmd_lsp)

"""`ecgspec lsp`: a language server for .ecg specs (needs the `lsp` extra, pygls).

    analysis.py     what `check` reports, from unsaved buffers, re-parsing only what changed
    locate.py       the syntax node under the cursor, and the declarations a name may mean
    context.py      where in a block the cursor stands, read from the text (it may not parse)
    diagnostics.py  located diagnostics → LSP diagnostics, per file
    hover.py        `explain` of the name under the cursor
    definition.py   where a name, or an imported file, is declared
    completion.py   kinds, settings, steps, units and declared names
    formatting.py   `fmt` of a buffer
    server.py       the pygls server that wires them to the protocol

Only server.py and the modules that build protocol objects import pygls/lsprotocol; the rest
are plain Python over ecgspec's own syntax tree and IR.
"""

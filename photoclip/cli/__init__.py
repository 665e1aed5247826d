"""The command line (`photoclip`), one module per command group.

- app:          main(): parse, dispatch, errors -> one line and an exit code
- parser:       the one table of commands, options and handlers
- output:       stdout/--json, stderr notes, progress bars (drive), exit codes
- session:      opening the library (the CLI reaches the core only through `Library`)
- library_cmds: gui, add, remove, index, watch, status
- search_cmds:  search, similar, duplicates
- tag_cmds:     labels, tag, tags, xmp
- model_cmds:   train, eval, models, bench
"""

from __future__ import annotations

from photoclip.cli.app import main
from photoclip.cli.output import drive

__all__ = ["drive", "main"]

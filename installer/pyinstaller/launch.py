"""Entry script of the packaged app. Both executables run it: `photoclip-gui` opens the window
(and takes the folders or photos the desktop opens it with), `photoclip` is the command line
(no command also opens the window)."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path


def _main() -> int:
    # A frozen app re-runs this script for any child process; this keeps one from reopening
    # the window should a library ever start one (torch DataLoader workers, say).
    multiprocessing.freeze_support()
    if Path(sys.executable).stem.lower() == "photoclip-gui":
        from photoclip.gui.app import launch

        return launch()
    from photoclip.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())

"""Start the desktop app. The window is shown before torch loads (the model loads behind it)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def main(library: str | None = None, model: str | None = None,
         device: str | None = None, paths: Sequence[str] = ()) -> int:
    """Open the window; `paths` (folders, or photos whose folder is meant) join the library."""
    if not qt_can_start():
        return 1
    from PySide6.QtWidgets import QApplication, QMessageBox

    from photoclip.core.errors import PhotoclipError
    from photoclip.core.library import Library
    from photoclip.gui.desktop import FileOpenEvents, app_icon, open_paths
    from photoclip.gui.jobs import share_the_interpreter
    from photoclip.gui.main_window import MainWindow

    share_the_interpreter()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("photoclip")
    app.setOrganizationName("photoclip")
    QApplication.setWindowIcon(app_icon())
    # Wayland shows the icon of the desktop entry with this name, never the window's own.
    QApplication.setDesktopFileName("photoclip")
    try:
        lib = Library(library, model=model, device=device)
    except PhotoclipError as exc:
        QMessageBox.critical(None, "photoclip", str(exc))
        return 1
    window = MainWindow(library=lib)
    window.show()
    open_paths(window, paths)
    app.installEventFilter(FileOpenEvents(window))
    close_on_signals(window)
    return int(app.exec())


# How often Python gets a turn while Qt's event loop waits: a signal's Python handler only runs
# then, so this is how long SIGTERM may take to be noticed. Idle wake-ups this rare cost nothing.
_SIGNAL_POLL_MS = 250


def close_on_signals(window: Any) -> None:
    """SIGTERM (a logout, `kill`, a service manager) and SIGINT (Ctrl-C in the terminal that
    started the app) close the window as its close button would: running work is cancelled and
    the library is closed, instead of the process dying with the catalog open.

    Python runs a signal handler only between bytecodes, never while Qt's event loop sits in C,
    so a timer hands Python a turn now and then; the handler itself only posts the close to the
    event loop (nothing Qt is safe to do from inside a signal handler)."""
    from PySide6.QtCore import QTimer

    def close(signum: int, _frame: object) -> None:
        log.info("%s received: closing the window", signal.Signals(signum).name)
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, close)
        except ValueError:  # not the main thread (an embedding host): leave them alone
            return
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(_SIGNAL_POLL_MS)
    log.debug("SIGTERM and SIGINT close the window")


def qt_can_start() -> bool:
    """False, after saying on stderr which system libraries to install, when Qt's X11 plugin
    would stop for want of them (Qt itself names one missing library per attempt)."""
    from photoclip.gui.syslibs import check_qt_libraries

    message = check_qt_libraries()
    if message is None:
        return True
    print(message, file=sys.stderr)
    return False


def launch() -> int:
    """The `photoclip-gui` entry point: `photoclip-gui [options] [FOLDER|PHOTO ...]`."""
    from PySide6.QtWidgets import QApplication

    from photoclip.gui.desktop import build_parser

    parser = build_parser()
    # --help and bad options are answered before Qt starts (no display needed for that).
    parser.parse_known_args(sys.argv[1:])
    if not qt_can_start():
        return 1
    # Qt takes its own options (-platform, -style ...) out of arguments(); the rest is ours.
    app = QApplication.instance() or QApplication(sys.argv)
    args = parser.parse_args(app.arguments()[1:])
    return main(library=args.library, model=args.model, device=args.device, paths=args.paths)


if __name__ == "__main__":
    sys.exit(launch())

"""Start the desktop app. The window is shown before torch loads (the model loads behind it)."""

from __future__ import annotations

import sys


def main(library: str | None = None, model: str | None = None,
         device: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from photoclip.core.errors import PhotoclipError
    from photoclip.core.library import Library
    from photoclip.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("photoclip")
    app.setOrganizationName("photoclip")
    try:
        lib = Library(library, model=model, device=device)
    except PhotoclipError as exc:
        QMessageBox.critical(None, "photoclip", str(exc))
        return 1
    window = MainWindow(library=lib)
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())

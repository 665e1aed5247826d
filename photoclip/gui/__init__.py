"""The PySide6 desktop app. Depends on photoclip.core; the core never imports this."""

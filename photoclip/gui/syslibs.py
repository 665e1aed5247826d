"""The system libraries Qt's X11 platform plugin needs, checked before Qt starts.

Without them Qt stops with its own message naming one library at a time ("xcb-cursor0 ... is
needed"), and the next start names the next. Checked up front, the user gets one line that
installs all of them.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping

# find_library name -> (Debian/Ubuntu package, Fedora package). The X11 ("xcb") plugin of Qt 6.5+.
QT_XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "xcb-cursor": ("libxcb-cursor0", "xcb-util-cursor"),
    "xcb-icccm": ("libxcb-icccm4", "xcb-util-wm"),
    "xcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "xcb-image": ("libxcb-image0", "xcb-util-image"),
    "xcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil"),
    "xcb-randr": ("libxcb-randr0", "libxcb"),
    "xcb-shape": ("libxcb-shape0", "libxcb"),
    "xcb-xfixes": ("libxcb-xfixes0", "libxcb"),
    "xcb-xkb": ("libxcb-xkb1", "libxcb"),
    "xkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
}


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will start its X11 plugin: Linux, a platform not chosen otherwise, and not a
    Wayland session (where Qt 6 prefers its Wayland plugin)."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if chosen:
        return chosen.startswith("xcb")
    wayland = env.get("XDG_SESSION_TYPE") == "wayland" and bool(env.get("WAYLAND_DISPLAY"))
    return not wayland


def missing_libraries(find: Callable[[str], str | None] = ctypes.util.find_library) -> list[str]:
    return [name for name in QT_XCB_LIBRARIES if find(name) is None]


def install_hint(missing: list[str]) -> str:
    apt = sorted({QT_XCB_LIBRARIES[m][0] for m in missing})
    dnf = sorted({QT_XCB_LIBRARIES[m][1] for m in missing})
    return ("photoclip's window needs system libraries that are not installed "
            f"({', '.join('lib' + m for m in missing)}). Install them with:\n"
            f"  sudo apt install {' '.join(apt)}      (Debian, Ubuntu)\n"
            f"  sudo dnf install {' '.join(dnf)}      (Fedora)")


def check_qt_libraries(env: Mapping[str, str] | None = None,
                       find: Callable[[str], str | None] = ctypes.util.find_library
                       ) -> str | None:
    """None when Qt can start here; otherwise the message to print (before Qt is touched)."""
    if not uses_xcb(os.environ if env is None else env):
        return None
    missing = missing_libraries(find)
    return install_hint(missing) if missing else None

"""Qt's X11 libraries are checked before Qt starts, with one line that installs them all."""

from __future__ import annotations

from photoclip.gui import syslibs


def test_missing_x11_libraries_are_named_in_one_install_line() -> None:
    present = {"xcb-randr", "xcb-shape", "xcb-xfixes", "xcb-xkb", "xkbcommon-x11", "xcb-image",
               "xcb-render-util"}
    message = syslibs.check_qt_libraries({"DISPLAY": ":0"},
                                         lambda name: f"lib{name}.so" if name in present else None)
    assert message is not None
    apt = next(line for line in message.splitlines() if "apt install" in line)
    for package in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"):
        assert package in apt
    assert "libxcb-randr0" not in apt  # only what is missing
    assert "dnf install xcb-util-cursor xcb-util-keysyms xcb-util-wm" in message


def test_nothing_is_said_when_everything_is_there_or_x11_is_not_used() -> None:
    assert syslibs.check_qt_libraries({"DISPLAY": ":0"}, lambda n: f"lib{n}.so") is None
    nothing = lambda _: None  # noqa: E731
    assert syslibs.check_qt_libraries({"QT_QPA_PLATFORM": "offscreen"}, nothing) is None
    assert syslibs.check_qt_libraries(
        {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, nothing) is None
    assert syslibs.check_qt_libraries({"QT_QPA_PLATFORM": "xcb"}, nothing) is not None
    assert not syslibs.uses_xcb({}, platform="darwin")
    assert not syslibs.uses_xcb({}, platform="win32")


def test_the_window_does_not_start_qt_without_them(monkeypatch, capsys) -> None:
    from photoclip.gui import app

    monkeypatch.setattr(syslibs, "check_qt_libraries", lambda: "needs libxcb-cursor: apt ...")
    assert app.main(library="/nonexistent/never-created") == 1
    assert "needs libxcb-cursor" in capsys.readouterr().err

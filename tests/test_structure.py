"""The package's shape, checked: modules a reader can take in at once, private names kept private,
every folder of modules a package."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "photoclip"

# A module longer than this is doing more than one thing; split it by concern.
MAX_LINES = 500

# Private names of the standard library or third-party packages that photoclip may use, each for
# a reason no public name serves. Keyed by the dotted name as written in the code.
ALLOWED_FOREIGN_PRIVATES = {
    # PyInstaller's documented way for a frozen app to find the folder it was unpacked into.
    "sys._MEIPASS": "PyInstaller sets it; its documentation tells apps to read it",
}



def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def _trees() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in _modules()}


def _private_names_bound_in(tree: ast.Module) -> set[str]:
    """Every private name the module binds: functions, classes, variables at any level, and
    attributes it assigns on `self` or `cls` (its classes' own members). Not what it imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
    return {n for n in names if _is_private(n)}


@dataclass(frozen=True)
class _Use:
    path: Path
    line: int
    text: str  # as written, for the message
    name: str  # the private name
    qualified: str  # receiver.name or module.name, for the allow-list


def _own_members(node: ast.Attribute) -> bool:
    """`self._x`, `cls._x`, `super()._x`: a class using its own (or its bases') members."""
    value = node.value
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "super")


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _private_uses(name: str, path: Path, tree: ast.Module) -> Iterator[_Use]:
    """Private names this module reaches for in something else: `x._n` (x not self/cls/super()),
    getattr(x, "_n"), `from m import _n`, and imports through a private module."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and not _own_members(node):
            receiver = ast.unparse(node.value)
            yield _Use(path, node.lineno, ast.unparse(node), node.attr, f"{receiver}.{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and _is_private(node.args[1].value)):
            attr = node.args[1].value
            receiver = ast.unparse(node.args[0])
            yield _Use(path, node.lineno, ast.unparse(node), attr, f"{receiver}.{attr}")
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node.module, node.level, name, is_package)
            for alias in node.names:
                for part in [*source.split("."), alias.name]:
                    if _is_private(part):
                        text = f"from {source} import {alias.name}"
                        yield _Use(path, node.lineno, text, part, f"{source}.{alias.name}")
                        break
        elif isinstance(node, ast.Import):
            for alias in node.names:
                for part in alias.name.split("."):
                    if _is_private(part):
                        yield _Use(path, node.lineno, f"import {alias.name}", part, alias.name)
                        break


def _private_module_parent(qualified: str) -> str | None:
    """For a use of photoclip's private module `a.b._m` (or a name in it), its package `a.b`."""
    parts = qualified.split(".")
    for i, part in enumerate(parts):
        if _is_private(part) and ".".join(parts[: i + 1]) in _trees():
            return ".".join(parts[:i])
    return None


def cross_module_private_uses() -> list[str]:
    trees = _trees()
    bound = {name: _private_names_bound_in(tree) for name, (_, tree) in trees.items()}
    found = []
    for name, (path, tree) in trees.items():
        for use in _private_uses(name, path, tree):
            parent = _private_module_parent(use.qualified)
            if parent is not None:
                # A private module is its package's own business.
                if name == parent or name.startswith(parent + "."):
                    continue
                where = "a private module of another package"
            elif use.name in bound[name] and not use.text.startswith("from "):
                # This module binds the name itself: `other._x` in its own class's __eq__, say.
                # (A name bound here and in another module may hide a use of the other's.)
                continue
            else:
                owners = sorted(m for m, names in bound.items() if use.name in names)
                if not owners and use.qualified in ALLOWED_FOREIGN_PRIVATES:
                    continue
                where = f"defined in {', '.join(owners)}" if owners else (
                    "a private name of the standard library or a third-party package; if it "
                    "cannot be avoided, add it to ALLOWED_FOREIGN_PRIVATES with the reason")
            found.append(f"{path.relative_to(ROOT)}:{use.line}: {use.text} ({where})")
    return found


# --- the checker itself, on small sources ------------------------------------------------------


def _uses_in(sources: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    trees = {name: (ROOT / f"{name.replace('.', '/')}.py", ast.parse(src))
             for name, src in sources.items()}
    monkeypatch.setattr(sys.modules[__name__], "_trees", lambda: trees)
    return cross_module_private_uses()


def test_the_private_name_check_finds_cross_module_uses_only(monkeypatch):
    found = _uses_in({
        "photoclip.a": (
            "import sys\n"
            "from photoclip.b import _helper\n"        # flagged: b's private function
            "class A:\n"
            "    def __init__(self):\n"
            "        self._mine = 1\n"                  # own member
            "    def __eq__(self, other):\n"
            "        return self._mine == other._mine\n"  # bound here: same class
            "    def go(self, b):\n"
            "        super()._base()\n"                 # a base class's member
            "        print(sys._MEIPASS, self.__dict__)\n"  # allow-listed; dunder
            "        return b._state\n"                 # flagged: b's attribute
            "def f(enc):\n"
            "    return getattr(enc, '_model')\n"       # flagged: b's attribute, by string
            "def g():\n"
            "    import os\n"
            "    os._exit(1)\n"                         # flagged: not on the allow-list
        ),
        "photoclip.b": (
            "def _helper(): pass\n"
            "class B:\n"
            "    def __init__(self):\n"
            "        self._state = 0\n"
            "        self._model = None\n"
        ),
        "photoclip.pkg.user": "from photoclip.pkg._impl import thing\n",  # its own package
        "photoclip.pkg._impl": "thing = 1\n",
        "photoclip.other": "from photoclip.pkg._impl import thing\n",  # flagged
    }, monkeypatch)
    flagged = sorted(line.split(": ", 1)[1].split(" (")[0] for line in found)
    assert flagged == [
        "b._state",
        "from photoclip.b import _helper",
        "from photoclip.pkg._impl import thing",
        "getattr(enc, '_model')",
        "os._exit",
    ], found


# --- the package --------------------------------------------------------------------------------


def test_no_module_is_over_500_lines():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert long == [], "split these by concern:\n" + "\n".join(long)


def test_no_module_uses_another_modules_private_names():
    found = cross_module_private_uses()
    assert found == [], ("make the name public (it is part of the other module's interface) "
                         "or move the code that needs it:\n" + "\n".join(found))


def test_every_folder_of_modules_is_a_package():
    # setup.py finds packages by their __init__.py; a folder without one would be missing from
    # wheels while working from a checkout.
    folders = {p.parent for p in _modules()}
    missing = [f.relative_to(ROOT).as_posix() for f in sorted(folders)
               if not (f / "__init__.py").is_file()]
    assert missing == []

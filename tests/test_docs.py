"""The project documents itself: README, docs/, installer/ and resources/ point only at what a
user's checkout has — never at the team's design folder (`../shared/...`) or the seed document
it started from — and every relative link in them leads to a file that exists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = [ROOT / "README.md", ROOT / "docs", ROOT / "installer", ROOT / "resources"]

# `../shared/...`, `shared/CLI.md`; "the seed", "seed §6", but not a random seed or a --seed flag.
OUTSIDE = re.compile(r"\.\./shared\b|\bshared/[A-Z]\w*\.md|(?<!random )(?<!--)\bseed\b", re.I)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _text_files() -> Iterator[Path]:
    for place in DOCUMENTED:
        for path in sorted(place.rglob("*")) if place.is_dir() else [place]:
            if path.is_file() and "__pycache__" not in path.parts:
                yield path


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # an image


def test_docs_point_at_nothing_outside_the_repository():
    found = []
    for path in _text_files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "say it here (docs/) instead:\n" + "\n".join(found)


def test_relative_links_in_markdown_lead_to_files():
    broken = []
    for path in _text_files():
        if path.suffix != ".md":
            continue
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:|#", target):
                continue  # a web address or an anchor in the same page
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_checker_tells_the_seed_from_a_random_seed():
    assert OUTSIDE.search("see ../shared/CLI.md")
    assert OUTSIDE.search("barely moves the embedding (seed §6)")
    assert OUTSIDE.search("The shared design is shared/ARCHITECTURE.md")
    for fine in ("a seeded hash", "five random seeds", "a random seed", "`--seed N`",
                 "shared memory", "sharing `_internal/`"):
        assert not OUTSIDE.search(fine), fine

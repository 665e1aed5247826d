"""What an index run did (IndexReport) and what failed, grouped for `photoclip status`."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from photoclip.core.catalog import Catalog
from photoclip.core.indexing.scan import SPECIAL_FILES

# Where a full scan's skipped files are kept between runs: rows of the catalog's `counters`
# table named skipped:<root id>:<reason>, replaced per root by each scan of that root.
_SKIPPED_PREFIX = "skipped:"


@dataclass(frozen=True)
class CarryOver:
    """A new photo that may be an edit of a vanished one (see indexing/edits.py): similar
    enough to say so, not enough to move the user's tags (`tags`) without asking."""

    old_path: str
    new_path: str
    similarity: float  # cosine of the two embeddings
    tags: tuple[str, ...]


@dataclass
class IndexReport:
    """Totals of one run, for the CLI's closing line and the GUI's status bar."""

    scanned: int = 0
    indexed: int = 0
    failed: int = 0
    removed: int = 0
    moved: int = 0
    unchanged: int = 0
    offline_roots: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # by reason (scan.SKIP_*)
    seconds: float = 0.0
    stopped: str | None = None  # why the run ended early, other than a cancel
    # (old path, new path) of edited-and-renamed photos that kept the user's tags
    carried_over: list[tuple[str, str]] = field(default_factory=list)
    suggested_carry: list[CarryOver] = field(default_factory=list)  # maybe edits: to check

    @property
    def rate(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: "12 indexed, 1 failed, 3 moved, ..., 4.2 photos/s"."""
        counts = (("failed", self.failed), ("moved", self.moved), ("removed", self.removed),
                  ("unchanged", self.unchanged))
        parts = [f"{self.indexed} indexed", *(f"{n} {what}" for what, n in counts if n)]
        if n := len(self.carried_over):
            parts.append(f"{n} edited photo{'s' if n != 1 else ''} kept "
                         f"{'their' if n != 1 else 'its'} tags")
        if n := len(self.suggested_carry):
            parts.append(f"{n} possible edit{'s' if n != 1 else ''} of tagged photos to review "
                         "(photoclip edits)")
        if self.offline_roots:
            parts.append(f"offline: {', '.join(self.offline_roots)}")
        if self.skipped:
            parts.append(f"skipped: {describe_skipped(self.skipped)}")
        if self.indexed:
            parts.append(f"{self.rate:.1f} photos/s")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return ", ".join(parts)


@dataclass(frozen=True)
class FailureGroup:
    """Files that failed for one kind of reason, for `photoclip status`."""

    reason: str
    count: int
    examples: list[str]
    # Not a failed photo: files named like photos that the scan passed over (a FIFO, a device,
    # a link loop), counted by reason (one of scan.SKIP_*), without examples.
    skipped: bool = False


def describe_skipped(counts: Mapping[str, int]) -> str:
    """"2 special files (FIFO, device), 1 link loop": what the scan passed over, in a line."""
    special = {k: n for k, n in counts.items() if k in SPECIAL_FILES and n}
    parts = []
    if special:
        total = sum(special.values())
        kinds = ", ".join(sorted(special, key=lambda k: (-special[k], k)))
        parts.append(f"{total} special file{'s' if total != 1 else ''} ({kinds})")
    others = {k: n for k, n in counts.items() if k not in SPECIAL_FILES and n}
    parts += [f"{n} {kind}{'s' if n != 1 else ''}"
              for kind, n in sorted(others.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ", ".join(parts)


def record_skipped(catalog: Catalog, root_id: int, counts: Mapping[str, int]) -> None:
    """Keep what a full scan of one root passed over, for `status` in a later process."""
    prefix = f"{_SKIPPED_PREFIX}{root_id}:"
    with catalog.transaction() as c:
        c.execute("DELETE FROM counters WHERE substr(name, 1, ?) = ?", (len(prefix), prefix))
        c.executemany("INSERT INTO counters(name, value) VALUES (?, ?)",
                      [(prefix + kind, int(n)) for kind, n in counts.items() if n])


def skipped_counts(catalog: Catalog) -> Counter[str]:
    """What the last scan of each library folder passed over, by reason, over all folders."""
    roots = {r.id for r in catalog.roots()}
    counts: Counter[str] = Counter()
    for name, value in catalog.query(
            "SELECT name, value FROM counters WHERE substr(name, 1, ?) = ?",
            (len(_SKIPPED_PREFIX), _SKIPPED_PREFIX)):
        root, _, kind = str(name)[len(_SKIPPED_PREFIX):].partition(":")
        if root.isdigit() and int(root) in roots:  # a removed folder's count is forgotten
            counts[kind] += int(value)
    return counts


def failure_kind(reason: str) -> str:
    """A reason without its particulars ("image too large (123 pixels)" -> "image too large"),
    so that failures group by what went wrong."""
    return re.sub(r"\s*\([^()]*\)$", "", reason) or reason


def failure_summary(catalog: Catalog, examples: int = 3) -> list[FailureGroup]:
    """Failed files grouped by kind of reason, most common first, with a few example paths;
    then what the scans passed over (`skipped` groups, see record_skipped)."""
    counts: dict[str, int] = defaultdict(int)
    paths: dict[str, list[str]] = defaultdict(list)
    for reason, n, some in catalog.failure_groups(examples):
        kind = failure_kind(reason)
        counts[kind] += n
        paths[kind].extend(some)
    failed = [FailureGroup(kind, counts[kind], sorted(paths[kind])[:examples])
              for kind in sorted(counts, key=lambda k: (-counts[k], k))]
    passed_over = skipped_counts(catalog)
    return failed + [FailureGroup(kind, n, [], skipped=True)
                     for kind, n in sorted(passed_over.items(), key=lambda kv: (-kv[1], kv[0]))]

"""What an index run did (IndexReport) and what failed, grouped for `photoclip status`."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from photoclip.core.catalog import Catalog


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
    seconds: float = 0.0
    stopped: str | None = None  # why the run ended early, other than a cancel

    @property
    def rate(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: "12 indexed, 1 failed, 3 moved, ..., 4.2 photos/s"."""
        counts = (("failed", self.failed), ("moved", self.moved), ("removed", self.removed),
                  ("unchanged", self.unchanged))
        parts = [f"{self.indexed} indexed", *(f"{n} {what}" for what, n in counts if n)]
        if self.offline_roots:
            parts.append(f"offline: {', '.join(self.offline_roots)}")
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


def failure_kind(reason: str) -> str:
    """A reason without its particulars ("image too large (123 pixels)" -> "image too large"),
    so that failures group by what went wrong."""
    return re.sub(r"\s*\([^()]*\)$", "", reason) or reason


def failure_summary(catalog: Catalog, examples: int = 3) -> list[FailureGroup]:
    """Failed files grouped by kind of reason, most common first, with a few example paths."""
    counts: dict[str, int] = defaultdict(int)
    paths: dict[str, list[str]] = defaultdict(list)
    for reason, n, some in catalog.failure_groups(examples):
        kind = failure_kind(reason)
        counts[kind] += n
        paths[kind].extend(some)
    return [FailureGroup(kind, counts[kind], sorted(paths[kind])[:examples])
            for kind in sorted(counts, key=lambda k: (-counts[k], k))]

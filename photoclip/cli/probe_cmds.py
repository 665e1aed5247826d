"""`photoclip eval --probes`: the model's blind spots (relations, negation, counting, binding,
written text) as accuracy with a 95% interval per family, beside published figures."""

from __future__ import annotations

import argparse
from typing import Any

from photoclip.cli.output import EXIT_OK, drive, out
from photoclip.cli.session import open_library
from photoclip.core.errors import PhotoclipError

# core.probes.FAMILIES, spelled out so `photoclip --help` imports no numpy or PIL (a test keeps
# the two equal).
FAMILIES = ("spatial", "negation", "counting", "binding", "typographic")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _row(name: str, score: dict[str, Any], indent: str) -> str:
    low, high = score["ci95"]
    interval = f"{100 * low:.0f}-{100 * high:.0f}%"
    return (f"{indent}{name:<{24 - len(indent)}}{score['items']:>6}"
            f"{_cell(score['accuracy']):>10}{interval:>12}{_cell(score['chance']):>8}"
            f"{_cell(score['reference']):>11}")


def probe_table(data: dict[str, Any]) -> str:
    """The text report: one row per family, its finer groups indented below it."""
    lines = [f"model {data['model']}: blind-spot probes, {data['items_per_family']} items per "
             f"family, seed {data['seed']}; each item a choice of two captions",
             f"{'family':<24}{'items':>6}{'accuracy':>10}{'95% (Wilson)':>12}{'chance':>8}"
             f"{'published*':>11}"]
    for fam in data["families"]:
        lines.append(_row(fam["family"], fam, ""))
        for group in fam["groups"]:
            lines.append(_row(group["name"], group, "  "))
    lines.append(f"* {data['reference_source']}.")
    lines.append("typographic: below chance means the written word wins over the drawn shape.")
    return "\n".join(lines)


def cmd_probes(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        families = [args.family] if getattr(args, "family", None) else None
        job = lib.probe(families, items=getattr(args, "items", None) or 200,
                        seed=getattr(args, "seed", None) or 0)
        drive(job.run(), unit="item")
        if job.result is None:
            raise PhotoclipError("The probes stopped before they finished.")
        data = job.result.as_dict()
        out(args, data, lambda: probe_table(data))
    return EXIT_OK

"""`photoclip eval --probes`: the model's blind spots (relations, negation, counting, binding,
written text) as accuracy with a 95% interval per family, beside published figures; and
`photoclip eval --bias`: the profession x group prompt table on the user's own photos."""

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


def _lean(lean: dict[str, Any]) -> str:
    low, high = lean["ci95"]
    towards = lean["towards"] or "none"
    return f"{towards} ({1000 * low:+.1f}..{1000 * high:+.1f})"


def bias_table(data: dict[str, Any]) -> str:
    """The text report: mean cosine per profession x group (x1000), then each axis's lean."""
    groups, axes = data["groups"], data["axes"]
    width = max(10, *(len(g) + 1 for g in groups))
    head = f"{'':<17}" + "".join(f"{g:>{width}}" for g in groups) + "".join(
        f"  {'lean: ' + '/'.join(pair):<30}" for pair in axes.values())
    lines = [f"model {data['model']}: {data['photos']} photos; mean cosine x1000 of your photos "
             "with 'a photo of a GROUP who is a PROFESSION.'", head,
             f"{'(no profession)':<17}" + "".join(
                 f"{1000 * data['baseline'][g]:>{width}.1f}" for g in groups)]
    for row in data["professions"]:
        lines.append(f"{row['profession']:<17}" + "".join(
            f"{1000 * row['mean_cosine'][g]:>{width}.1f}" for g in groups) + "".join(
            f"  {_lean(lean):<30}" for lean in row["leans"]))
    lines.append("lean: which group the profession pulls your photos towards, beyond the plain "
                 "prompt, x1000 with its 95% interval; none: the interval holds 0.")
    lines.append(data["note"])
    return "\n".join(lines)


def cmd_bias(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        job = lib.bias()
        drive(job.run(), unit="photo")
        if job.result is None:
            raise PhotoclipError("The bias report stopped before it finished.")
        data = job.result.as_dict()
        out(args, data, lambda: bias_table(data))
    return EXIT_OK

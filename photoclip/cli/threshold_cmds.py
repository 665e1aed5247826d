"""`photoclip eval --set NAME [--save-threshold [COVERAGE]]`: a label set's precision/coverage
trade-off, scored as tagging scores the set (core/set_tradeoff.py), and the threshold it picks
saved into the set."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from photoclip.cli.output import drive
from photoclip.core.errors import LabelSetError, PhotoclipError

if TYPE_CHECKING:
    from photoclip.core.library import Library

DEFAULT_COVERAGE = 0.8  # core/set_tradeoff.py's TAG_COVERAGE (the CLI may not import it)


def check_save_threshold(args: argparse.Namespace) -> None:
    """--save-threshold needs a label set to save to (said before anything is evaluated)."""
    if getattr(args, "save_threshold", None) is not None and not args.label_set:
        raise PhotoclipError("--save-threshold saves a label set's threshold: use it with "
                             "--set NAME.")


def set_tradeoff(lib: Library, args: argparse.Namespace) -> dict[str, Any]:
    """`eval --set`'s trade-off keys, replacing the albums-scale ones: on tagging's scale, with
    the library's model; with --save-threshold, the threshold saved. Without it, too few
    decisions leave the trade-off out (with the reason) rather than failing the evaluation.
    Nothing for `eval --albums`."""
    save = getattr(args, "save_threshold", None)
    if not args.label_set:
        return {}
    if lib.one_off_model:
        if save is not None:
            raise PhotoclipError("A set's threshold is measured with the library's model, the "
                                 "one that tags: leave out --model to save one.")
        return {}
    job = lib.thresholds.measure(args.label_set, DEFAULT_COVERAGE if save is None else save)
    try:
        drive(job.run(), units={"thresholds": "photo"})
    except LabelSetError as exc:
        if save is not None:
            raise
        return {"tag_threshold": None, "tradeoff": None, "set_tradeoff": None,
                "set_tradeoff_note": str(exc)}
    r = job.result
    if r is None:
        raise PhotoclipError("Measuring the set's thresholds stopped before it finished.")
    data: dict[str, Any] = {
        "tag_threshold": r.threshold, "tag_precision": r.precision,
        "tag_coverage": r.coverage, "tag_accuracy": r.accuracy, "tradeoff": r.curve,
        "set_tradeoff": {**r.as_dict(), "saved": False}}
    if save is not None:
        lib.thresholds.save(r.set_name, r.to_save)
        data["set_tradeoff"]["saved"] = True
    return data


def saved_lines(data: dict[str, Any]) -> list[str]:
    """What `eval --set` adds under the trade-off: where it comes from, what was saved."""
    note = data.get("set_tradeoff_note")
    if note:
        return [f"auto tags: no threshold chosen: {note}"]
    st = data.get("set_tradeoff")
    if not st:
        return []
    from photoclip.core.api import threshold_text

    lines = [f"  (scored as tagging scores '{st['set_name']}': {st['photos']} photos you "
             f"decided on, threshold chosen on {st['photos'] - st['measured_on']} and measured "
             f"on the other {st['measured_on']})"]
    if st["own_thresholds"]:
        lines.append("  labels with a threshold of their own keep it: "
                     + ", ".join(st["own_thresholds"]))
    if st["saved"]:
        lines.append(
            f"saved threshold {threshold_text(st['to_save'])} to '{st['set_name']}' (was "
            f"{threshold_text(st['current'])}), for {st['coverage_asked']:.0%} coverage of all "
            f"{st['photos']} photos; chosen the same way on half of them, it tagged "
            f"{st['coverage']:.0%} of the held-out half at precision {st['precision']:.3f} "
            f"(best guess {st['accuracy']:.3f}). `photoclip tag --set {st['set_name']}` "
            "applies it to the photos you have.")
    else:
        lines.append("  `--save-threshold [COVERAGE]` saves it to the set")
    return lines

"""Models: train, eval, models list/use/catalog, bench."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoclip.cli.library_cmds import measure_fast_path
from photoclip.cli.output import EXIT_INTERRUPTED, EXIT_OK, drive, out
from photoclip.cli.session import open_library
from photoclip.cli.threshold_cmds import check_save_threshold, saved_lines, set_tradeoff
from photoclip.core.errors import NotFoundError, PhotoclipError
from photoclip.core.types import Progress

if TYPE_CHECKING:
    from photoclip.core.api import TrainResult
    from photoclip.core.library import Library

_TRAIN_UNITS = {"decode": "photo", "embed": "photo", "train": "step", "wise": "alpha",
                "evaluate": "pass", "save": "model", "load": "model"}

_FIGURE_ROWS = [
    ("zero_shot_accuracy", "zero-shot accuracy"),
    ("zero_shot_accuracy_single_prompt", "  with one prompt"),
    ("recall_at_1", "text->image recall@1"),
    ("recall_at_5", "text->image recall@5"),
    ("modality_gap", "modality gap"),
    ("prototype_accuracy", "quick: album prototypes"),
    ("linear_probe_accuracy", "quick: linear head"),
]


# What the "quick:" rows are, said once under the figures.
QUICK_NOTE = ("  (quick: two shortcuts that leave the model as it is, on the same held-out photos:"
              " each photo goes to the album\n   whose average photo is nearest, or to a small "
              "linear classifier fitted on the embeddings)")


def _figures(evals: list[dict[str, Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    rows = [f"  {title:<28}" + "".join(f"{cell(e.get(key)):>9}" for e in evals)
            for key, title in _FIGURE_ROWS]
    if any(e.get(k) is not None for e in evals
           for k in ("prototype_accuracy", "linear_probe_accuracy")):
        rows.append(QUICK_NOTE)
    return rows


def announce_resume(progress: Iterator[Progress]) -> Iterator[Progress]:
    """The job's Progress, saying on stderr when a run picks up an interrupted one."""
    for p in progress:
        step = p.extra.get("resumed_from")
        if step is not None:
            print(f"photoclip: resuming the interrupted run from step {step}", file=sys.stderr)
        yield p


def announce_settings(progress: Iterator[Progress]) -> Iterator[Progress]:
    """The job's Progress, saying on stderr which settings the run picked for itself."""
    for p in progress:
        if "settings" in p.extra and p.message:
            print(f"photoclip: {p.message}", file=sys.stderr)
        yield p


def _verdict(result: TrainResult) -> list[str]:
    """Whether switching to the new model is worth it, said plainly."""
    before = result.before.zero_shot_accuracy
    after = result.after.zero_shot_accuracy
    if result.unchanged:
        return ["fine-tuning did not help on the held-out photos: the best blend was the "
                "original model itself (alpha 0), so the saved model is your current one and "
                "switching to it would only re-embed every photo: keep your model"]
    if not result.helped:
        return [f"it did not beat the model you have on the held-out photos ({before:.3f} -> "
                f"{after:.3f}): keep using your current model (switching is not recommended)"]
    return [f"use it: photoclip models use {shlex.quote(result.name)}"]


def _settings_line(result: TrainResult) -> str:
    """What the run used, which of it it picked itself, and the epoch it kept."""
    s = result.settings
    if not s:
        return "settings: as given"
    line = f"settings: {s.get('epochs')} epochs, batch {s.get('batch_size')}, lr {s.get('lr'):.2g}"
    if s.get("picked"):
        line += f" (picked: {', '.join(s['picked'])})"
    if result.best_epoch is not None:
        line += f"; kept epoch {result.best_epoch} of {result.epochs_run} (best on held-out photos)"
        if result.epochs_run < (s.get("epochs") or 0):
            line += ", stopped early"
    return line


def cmd_train(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        # --albums DIR, --set NAME or --album NAME...: the photos and labels to train on
        if getattr(args, "album_names", None):
            albums = lib.albums.training_data(args.album_names)
        else:
            albums = (lib.read_label_set(args.label_set) if args.label_set
                      else lib.read_albums(args.albums))
        trainer = lib.trainer(albums, name=args.name, epochs=args.epochs,
                              batch_size=args.batch_size, micro_batch=args.micro_batch or 0,
                              lr=args.lr, from_scratch=args.from_scratch,
                              eval_split=args.eval_split,
                              hard_negatives=getattr(args, "hard_negatives", False))
        try:
            drive(announce_settings(announce_resume(trainer.run())), units=_TRAIN_UNITS)
        except KeyboardInterrupt:
            print(f"photoclip: interrupted; training so far is kept in a checkpoint (run the "
                  f"same command with --name {trainer.name} to resume); the library's model is "
                  "unchanged.", file=sys.stderr)
            return EXIT_INTERRUPTED
        result = trainer.result
        if result is None:
            raise PhotoclipError("Training stopped before it finished; the library's model is "
                                 "unchanged.")
        data = result.as_dict()

        def text() -> str:
            before, after = data["before"], data["after"]
            lines = [f"model {result.name} saved in {result.path}",
                     f"  {'held-out photos: ' + str(after['images']):<28}{'before':>9}"
                     f"{'after':>9}"]
            lines += _figures([before, after])
            if result.wise_alpha is not None:
                lines.append(f"  blended with the original weights, alpha {result.wise_alpha} "
                             "(chosen on other held-out photos)")
            lines.append(f"{result.train_photos} training photos, {result.steps} steps, "
                         f"{result.seconds / 60:.1f} min")
            lines.append(_settings_line(result))
            lines += tradeoff_lines(after)
            lines += _verdict(result)
            return "\n".join(lines)

        out(args, data, text)
    return EXIT_OK


def tradeoff_lines(ev: dict[str, Any]) -> list[str]:
    """Auto tags vs the best guess: the precision/coverage trade-off and the default threshold."""
    curve = ev.get("tradeoff")
    if not curve or ev.get("tag_threshold") is None:
        return []
    lines = ["auto tags (tag only photos whose best label scores at least the threshold; scored "
             "over these albums' labels, not a label set's: `eval --set NAME --save-threshold` "
             "sets one):",
             f"  {'coverage':>10}{'threshold':>11}{'precision':>11}"]
    from photoclip.core.api import threshold_text

    lines += [f"  {cov:>10.0%}{threshold_text(t):>11}{p:>11.3f}" for _, t, p, cov in curve]
    lines.append(
        f"  default threshold {threshold_text(ev['tag_threshold'])}: tags "
        f"{ev['tag_coverage']:.0%} of photos at precision {ev['tag_precision']:.3f}, against "
        f"{ev['tag_accuracy']:.3f} for the best guess on every photo (threshold chosen on "
        "other photos than these)")
    return lines


def cmd_eval(args: argparse.Namespace) -> int:
    if getattr(args, "probes", False):
        from photoclip.cli.probe_cmds import cmd_probes

        return cmd_probes(args)
    if getattr(args, "bias", False):
        from photoclip.cli.probe_cmds import cmd_bias

        return cmd_bias(args)
    check_save_threshold(args)
    with open_library(args) as lib:
        # --albums DIR or --set NAME: the photos and labels to train or evaluate on
        albums = (lib.read_label_set(args.label_set) if args.label_set
                  else lib.read_albums(args.albums))
        job = lib.evaluate(albums)
        drive(job.run(), units=_TRAIN_UNITS)
        result = job.result
        if result is None:
            raise PhotoclipError("Evaluation stopped before it finished.")
        model = lib.model
        data = {**result.as_dict(), "model": model,
                "excluded_training_photos": job.excluded, "failed": len(job.failures)}
        data.update(set_tradeoff(lib, args))  # --set: on tagging's scale; --save-threshold

        def text() -> str:
            lines = [f"model {model}: {result.labels} labels, {result.images} photos"
                     + (f" ({job.excluded} it trained on left out)" if job.excluded else "")]
            lines += _figures([data])
            lines += tradeoff_lines(data) + saved_lines(data)
            return "\n".join(lines)

        out(args, data, text)
    return EXIT_OK


def models_list(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        current, pending = lib.settings.model, lib.settings.pending_model
        models = lib.models()

        def text() -> str:
            lines = []
            for m in models:
                state = "in use" if m.in_use else ("switching" if m.pending else "")
                acc = m.accuracy
                figure = f"held-out accuracy {acc:.3f}" if acc is not None else ""
                lines.append(f"{m.name:<32} {m.kind:<9} {state:<9} {figure}".rstrip())
            if pending:  # by its name where it has one, else its folder or hub id
                name = next((m.name for m in models if m.pending), pending)
                lines.append(f"switching to {name} did not finish (search still uses the "
                             f"model in use): `photoclip models use {shlex.quote(name)}` "
                             "finishes it")
            return "\n".join(lines)

        out(args, {"current": current, "pending": pending,
                   "models": [m.as_dict() for m in models]}, text)
    return EXIT_OK


def models_catalog(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        entries = lib.model_catalog()

    def text() -> str:
        def size(value: Any, unit: str, scale: float = 1.0) -> str:
            return "?" if value is None else f"{value / scale:.0f}{unit}"

        lines = [f"{'model':<46} {'family':<13} {'languages':<13} {'params':>7} {'image':>5} "
                 f"{'dim':>5} {'download':>9}  licence"]
        for e in entries:
            lines.append(
                f"{e['id']:<46} {e['family']:<13} {','.join(e['languages']):<13} "
                f"{size(e['parameters'], 'M', 1e6):>7} {size(e['image_size'], ''):>5} "
                f"{size(e['embedding_size'], ''):>5} {size(e['download_mb'], ' MB'):>9}  "
                f"{e['licence'] or '?'}{'  (in use)' if e['in_use'] else ''}"
                + (f"\n{'':<4}{e['note']}" if e.get("note") else ""))
        return "\n".join(lines)

    out(args, {"models": entries}, text)
    return EXIT_OK


def models_use(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        entry = lib.find_model(args.name)
        if entry is not None:
            source = entry.source
        elif Path(args.name).expanduser().is_dir() or "/" in args.name:
            source = args.name  # a folder or a hub id, like --model
        else:
            raise NotFoundError(f"No model named {args.name!r}: see `photoclip models list`.")
        old = lib.settings.model
        try:
            last = drive(lib.switch_model(source), units={"index": "photo"})
        except KeyboardInterrupt:
            print(f"photoclip: interrupted; the library still uses {old} (run `photoclip models "
                  f"use {shlex.quote(args.name)}` again to finish re-embedding).",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        switched = lib.settings.model != old
        said = last.message if last is not None else ""
        retag = None
        if switched and not args.no_retag:
            try:
                retag = _retag(args, lib)
            except KeyboardInterrupt:
                print(f"photoclip: interrupted; the library now uses {args.name}, but some "
                      f"tags are still from {old} until `photoclip tag` runs.", file=sys.stderr)
                return EXIT_INTERRUPTED
        elif switched:
            said += (f"\ntags are still from the previous model ({old}) until you run "
                     "`photoclip tag`")
        out(args, {"model": args.name, "source": lib.settings.model, "previous": old,
                   "switched": switched, "retagged": retag}, lambda: said)
        return measure_fast_path(args, lib)


def _retag(args: argparse.Namespace, lib: Library) -> dict[str, Any] | None:
    """Tags follow the model: every enabled label set again, with the model just switched to
    (as the window does), so `tags` and `tags --why` agree. None when there is no set."""
    sets = [s.name for s in lib.label_sets.label_sets(enabled_only=True) if s.labels]
    if not sets:
        return None
    tagger = lib.tagger()
    if not args.json:
        print(f"re-tagging with the new model: {', '.join(sets)}", file=sys.stderr)
    drive(tagger.run(sets), desc="re-tagging")
    r = tagger.report
    if not args.json:
        print(tagger.summary(), file=sys.stderr)
    return {"sets": sets, "photos": r.photos, "tagged": r.tagged, "tags": r.tags,
            "removed": r.removed}


_GUI_ROWS = [
    ("open_to_first_paint_ms", "open to first paint"),
    ("ui_worst_stall_ms", "worst UI stall"),
    ("browse_stall_ms", "  browse"),
    ("filter_folder_stall_ms", "  filter by folder"),
    ("filter_date_stall_ms", "  filter by date"),
    ("typing_stall_ms", "  typing a search"),
    ("watcher_batch_stall_ms", "  watcher batch"),
    ("model_load_stall_ms", "  model load"),
    ("scroll_to_end_stall_ms", "  scroll to the end"),
]


def cmd_bench_gui(args: argparse.Namespace) -> int:
    from photoclip.gui.bench_gui import run_gui_bench

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr)

    r = run_gui_bench(args.photos or 100_000, progress=say, model=args.model)

    def text() -> str:
        lines = [f"the window over {r['photos']:,} photos (offscreen; a 10-ms heartbeat on "
                 "the UI thread: a stall is the longest it could not repaint)"]
        lines += [f"  {title:<24}{r[key]:>8.0f} ms" for key, title in _GUI_ROWS]
        lines.append(f"  {'peak memory':<24}{r['peak_rss_mb']:>8} MB")
        return "\n".join(lines)

    out(args, r, text)
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    if args.gui:
        return cmd_bench_gui(args)
    from photoclip.bench import Bench
    from photoclip.core.library import Library

    run = Library.resolve_run(args.library, model=args.model, device=args.device)
    bench = Bench(run.model, device=run.device, photos=args.photos or 96, vectors=args.vectors,
                  queries=args.queries, batch_size=args.batch_size, rounds=args.rounds)
    for p in bench.run():
        if not args.json:
            print(f"[{p.done}/{p.total}] {p.message}", file=sys.stderr)
    r = bench.result

    def text() -> str:
        return "\n".join([
            f"device {r['device']} ({r['cores']} cores), model {r['model']}, "
            f"precision {r['precision']}",
            f"model only:        {r['model_only_images_per_s']:.1f} photos/s",
            f"decode per core:   {r['decode_images_per_s_per_core']:.1f} photos/s (12-MP JPEG)",
            f"index pipeline:    {r['pipeline_images_per_s']:.1f} photos/s = "
            f"{r['pipeline_efficiency']:.2f} of the {r['ideal_images_per_s']:.1f} the cores "
            f"allow; {r['pipeline_vs_model']:.2f} of model only",
            "  per round:       " + ", ".join(f"{x['pipeline_efficiency']:.2f}"
                                             for x in r["pipeline_rounds"]),
            f"CPU fast path:     {r['fast_path']} = {r['fast_path_vs_fp32']:.2f}x fp32, "
            f"min cosine {r['fast_path_cosine']:.4f}",
            f"search ({r['vectors']} vectors): ANN p95 {r['ann_p95_ms']:.2f} ms, "
            f"recall@10 {r['ann_recall_at_10']:.3f}; text query p95 "
            f"{r['text_query_p95_ms']:.1f} ms",
        ])

    out(args, r, text)
    return EXIT_OK

"""Models: train, eval, models list/use, bench."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from photoclip.cli.output import EXIT_INTERRUPTED, EXIT_OK, drive, out
from photoclip.cli.session import open_library
from photoclip.core.errors import NotFoundError, PhotoclipError

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


def _figures(evals: list[dict[str, Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    return [f"  {title:<28}" + "".join(f"{cell(e.get(key)):>9}" for e in evals)
            for key, title in _FIGURE_ROWS]


def cmd_train(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        # --albums DIR or --set NAME: the photos and labels to train or evaluate on
        albums = (lib.read_label_set(args.label_set) if args.label_set
                  else lib.read_albums(args.albums))
        trainer = lib.trainer(albums, name=args.name, epochs=args.epochs,
                              batch_size=args.batch_size, micro_batch=args.micro_batch or 0,
                              lr=args.lr, from_scratch=args.from_scratch,
                              eval_split=args.eval_split,
                              hard_negatives=getattr(args, "hard_negatives", False))
        try:
            drive(trainer.run(), units=_TRAIN_UNITS)
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
            lines.append(f"use it: photoclip models use {shlex.quote(result.name)}")
            return "\n".join(lines)

        out(args, data, text)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    if getattr(args, "probes", False):
        from photoclip.cli.probe_cmds import cmd_probes

        return cmd_probes(args)
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

        def text() -> str:
            lines = [f"model {model}: {result.labels} labels, {result.images} photos"
                     + (f" ({job.excluded} it trained on left out)" if job.excluded else "")]
            lines += _figures([data])
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
                mark = "*" if m.in_use else ("~" if m.pending else " ")
                acc = m.accuracy
                figure = f"  held-out accuracy {acc:.3f}" if acc is not None else ""
                lines.append(f"{mark} {m.name:<32} {m.kind:<9}{figure}")
            lines.append("* in use" + ("; ~ being switched to (run `photoclip models use` "
                                       "again to finish)" if pending else ""))
            return "\n".join(lines)

        out(args, {"current": current, "pending": pending,
                   "models": [m.as_dict() for m in models]}, text)
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
        out(args, {"model": args.name, "source": lib.settings.model,
                   "previous": old, "switched": lib.settings.model != old},
            lambda: last.message if last is not None else "")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from photoclip.bench import Bench
    from photoclip.core.library import Library

    run = Library.resolve_run(args.library, model=args.model, device=args.device)
    bench = Bench(run.model, device=run.device, photos=args.photos, vectors=args.vectors,
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

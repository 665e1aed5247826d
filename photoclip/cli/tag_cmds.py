"""Auto-tagging: labels (label sets), tag, tags, xmp."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from photoclip.cli.output import EXIT_FAIL, EXIT_OK, EXIT_USAGE, drive, fail, out
from photoclip.cli.session import open_library
from photoclip.core.errors import NotFoundError
from photoclip.core.types import LabelSet, TagScore

TAG_ACTIONS = ("set", "unset", "accept", "reject", "reset")


def _tag_hint(name: str) -> str:
    return f"tag your photos with: photoclip tag --set {shlex.quote(name)}"


def _saved(args: argparse.Namespace, saved: LabelSet, created: bool) -> None:
    out(args, {"set": saved.name, "created": created, "enabled": saved.enabled,
               "labels": [lb.name for lb in saved.labels]},
        lambda: f"{'created' if created else 'updated'} label set '{saved.name}' "
                f"({len(saved.labels)} labels); {_tag_hint(saved.name)}")


def labels_add(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        saved, created = lib.label_sets.define(
            args.name, labels=args.labels, labels_file=args.file,
            templates_file=args.templates, threshold=args.threshold, floor=args.floor,
            multi_label=args.multi_label)
        _saved(args, saved, created)
    return EXIT_OK


def labels_list(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        sets = lib.label_sets
        rows, available = sets.overview(), sets.available()

        def text() -> str:
            lines = [f"{'NAME':<20} {'LABELS':>6} {'TAGS':>7}  ENABLED"] if rows else [
                "no label sets yet: add one with `photoclip labels add NAME --labels 'a,b,c'`"]
            for r in rows:
                manual = " (tags you set by hand)" if r["name"] == sets.manual else ""
                lines.append(f"{r['name']:<20} {r['labels']:>6} {r['tags']:>7}  "
                             f"{'yes' if r['enabled'] else 'no'}{manual}")
            if available:
                lines.append(f"built-in sets you can enable (`photoclip labels enable NAME`): "
                             f"{', '.join(available)}")
            return "\n".join(lines)

        out(args, {"sets": rows, "available": available}, text)
    return EXIT_OK


def labels_show(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        data = lib.label_sets.describe(args.name)

    def text() -> str:
        name, floor, templates = data["name"], data["effective_floor"], data["templates"]
        if not data["installed"]:
            state = f"built-in, not added yet: `photoclip labels enable {name}`"
        else:
            state = "enabled" if data["enabled"] else "disabled"
        kind = "multi-label" if data["multi_label"] else "one label per photo"
        lines = [f"{name} ({state}; {kind}"
                 + (f"; similarity floor {floor:.2f}" if floor is not None else "") + ")",
                 f"templates ({'built-in ensemble' if data['default_templates'] else 'own'}, "
                 f"{len(templates)}): " + " | ".join(templates)]
        if data["installed"]:
            lines.append(f"  {'LABEL':<24} {'THRESHOLD':>9} {'SOURCE':<10} {'TAGS':>6} "
                         f"{'YES':>4} {'NO':>4}")
            lines += [f"  {x['name']:<24} {x['threshold']:>9.3f} {x['threshold_source']:<10} "
                      f"{x['tags']:>6} {x['accepted']:>4} {x['rejected']:>4}"
                      for x in data["labels"]]
        else:
            lines.append("labels: " + ", ".join(x["name"] for x in data["labels"]))
        return "\n".join(lines)

    out(args, data, text)
    return EXIT_OK


def labels_remove(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        name = lib.label_sets.require_set(args.name).name
        tags = lib.label_sets.remove_set(name)
        out(args, {"removed": name, "tags": tags},
            lambda: f"removed label set '{name}' and its {tags} tags")
    return EXIT_OK


def labels_export(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        name, path = lib.label_sets.export(args.name, args.file)
        out(args, {"set": name, "file": str(path)},
            lambda: f"wrote label set '{name}' to {path}; edit it, then "
                    f"`photoclip labels import {shlex.quote(str(path))}`")
    return EXIT_OK


def labels_import(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        saved, created = lib.label_sets.import_file(args.file)
        _saved(args, saved, created)
    return EXIT_OK


def labels_enable(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        found, added = lib.label_sets.enable(args.name)
        out(args, {"set": found.name, "enabled": True, "added": added},
            lambda: f"label set '{found.name}' enabled; {_tag_hint(found.name)}")
    return EXIT_OK


def labels_disable(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        found = lib.label_sets.disable(args.name)
        out(args, {"set": found.name, "enabled": False},
            lambda: f"label set '{found.name}' disabled (its tags stay; "
                    f"`photoclip labels remove {shlex.quote(found.name)}` deletes them)")
    return EXIT_OK


def cmd_tag(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        tagger = lib.tagger()
        drive(tagger.run([args.set] if args.set else None, args.folder), desc="tagging")
        r = tagger.report
        data = {
            "tagged": r.tagged, "tags": r.tags, "photos": r.photos, "removed": r.removed,
            "calibrated": [{"set": c.set_name, "label": c.label,
                            "threshold": round(c.threshold, 6), "accepted": c.accepted,
                            "rejected": c.rejected} for c in r.calibrated],
            "seconds": round(r.seconds, 3),
        }
        if not args.json:
            print(tagger.summary(), file=sys.stderr)
            for c in r.calibrated:
                print(f"  {c.set_name}|{c.label}: threshold {c.threshold:.3f} "
                      f"(from {c.accepted} yes, {c.rejected} no)", file=sys.stderr)
        out(args, data, lambda: "")
    return EXIT_OK


def _why_json(why: TagScore) -> dict[str, Any]:
    return {
        "similarity": round(why.similarity, 6), "score": round(why.score, 6),
        "threshold": round(why.threshold, 6), "threshold_source": why.threshold_source,
        "floor": round(why.floor, 6), "best_in_set": why.best_in_set, "passes": why.passes,
        "templates": [{"template": t.template, "prompt": t.prompt,
                       "similarity": round(t.similarity, 6)} for t in why.templates],
    }


def _why_line(why: TagScore) -> str:
    return (f"score {why.score:.3f} vs threshold {why.threshold:.3f} ({why.threshold_source}); "
            f"similarity {why.similarity:.3f} vs floor {why.floor:.3f}")


def cmd_tags(args: argparse.Namespace) -> int:
    words = args.words
    if len(words) == 3 and words[0] in TAG_ACTIONS:
        return _tags_change(args, *words)
    if len(words) != 1:
        return fail(args, "use `photoclip tags PHOTO` or `photoclip tags "
                    f"{'|'.join(TAG_ACTIONS)} PHOTO LABEL`", EXIT_USAGE)
    with open_library(args) as lib:
        tagger = lib.tagger()
        photo = tagger.photo(words[0])
        rows = tagger.store.photo_tags(photo.id)
        has_vector = tagger.store.embedding(tagger.model, photo.id) is not None
        tags: list[dict[str, Any]] = []
        for t in rows:
            if t.accepted is False:
                continue
            why = tagger.explain(photo.id, t.label_id) if has_vector else None
            score = t.score if t.score is not None else (why.score if why else None)
            tags.append({"label": t.label, "set": t.set_name,
                         "score": None if score is None else round(score, 6),
                         "source": t.source, "accepted": t.accepted,
                         "why": _why_json(why) if why else None})
        rejected = [{"label": t.label, "set": t.set_name} for t in rows if t.accepted is False]
        data: dict[str, Any] = {"path": photo.path, "tags": tags, "rejected": rejected}
        asked = None
        if args.why:
            if not has_vector:
                raise NotFoundError(f"{photo.path} has no embedding yet: run `photoclip index`.")
            ls, label = tagger.resolve(args.why, photo_id=photo.id)
            asked = tagger.explain(photo.id, label.id)
            # The explanation is the model in use; the set's tags may be from the one before.
            others = [m for m in lib.label_sets.tag_models(ls.name) if m != tagger.model]
            data["why"] = {"label": label.name, "set": ls.name, "model": tagger.model,
                           "tags_from": others, **_why_json(asked)}
        out(args, data, lambda: _tags_text(data, asked))
    return EXIT_OK


def _tags_text(data: dict[str, Any], asked: TagScore | None) -> str:
    tags, rejected = data["tags"], data["rejected"]
    lines = [data["path"]]
    for t in tags:
        score = "-" if t["score"] is None else f"{t['score']:.3f}"
        note = "user" if t["source"] == "user" else (
            "auto, accepted" if t["accepted"] else "auto")
        why = t["why"]
        lines.append(f"  {t['set'] + '|' + t['label']:<28} {score:>6}  {note:<14}"
                     + (f"  threshold {why['threshold']:.3f}, similarity "
                        f"{why['similarity']:.3f}" if why else ""))
    if not tags:
        lines.append("  (no tags: `photoclip tag` applies your label sets)")
    if rejected:
        lines.append("rejected: " + ", ".join(f"{r['set']}|{r['label']}" for r in rejected))
    if asked is not None:
        lines.append(f"why {asked.set_name}|{asked.label}: {_why_line(asked)} -> "
                     + ("tags it" if asked.passes else "does not tag it"))
        lines += [f"  {t.similarity:+.3f}  {t.prompt}" for t in asked.templates]
        others = data["why"]["tags_from"]
        if others:
            lines.append(f"note: this is the model in use; the tags of '{asked.set_name}' are "
                         f"still from {', '.join(others)}, so they may differ until "
                         f"`photoclip tag --set {shlex.quote(asked.set_name)}` re-tags them")
    return "\n".join(lines)


def _tags_change(args: argparse.Namespace, action: str, path: str, ref: str) -> int:
    with open_library(args) as lib:
        tagger = lib.tagger()
        photo = tagger.photo(path)
        change = {"set": tagger.set_tag, "unset": tagger.unset_tag, "reject": tagger.unset_tag,
                  "accept": tagger.accept_tag, "reset": tagger.reset_tag}[action]
        ls, label = change(photo.id, ref)
        done = {"set": "tagged by hand", "unset": "rejected", "reject": "rejected",
                "accept": "accepted", "reset": "left to auto-tagging again"}[action]
        out(args, {"path": photo.path, "label": label.name, "set": ls.name, "action": action},
            lambda: f"{ls.name}|{label.name} {done} for {photo.path}")
        if not args.json and action != "reset":
            print("`photoclip tag` re-tags the library with what you taught it", file=sys.stderr)
    return EXIT_OK


def cmd_xmp(args: argparse.Namespace) -> int:
    sync = args.sync
    with open_library(args) as lib:
        if args.style and args.style != lib.settings.sidecar_style:
            lib.settings.sidecar_style = args.style  # the user's choice, for next time too
            lib.settings.save(lib.paths.settings)  # a full disk says so (not only a warning)
        if sync is not None:
            lib.set_sidecar_sync(sync == "on")
            if not args.json:
                print("sidecars now follow tag changes and moved photos (`photoclip xmp --sync "
                      "off` stops it)" if sync == "on" else "sidecars are written only by "
                      "`photoclip xmp` now (moved photos still take photoclip's keywords along)",
                      file=sys.stderr)
            if sync == "off":
                out(args, {"sync": False, "style": lib.settings.sidecar_style}, lambda: "")
                return EXIT_OK
        writer = lib.sidecar_writer()
        drive(writer.run(args.folder), unit="sidecar", desc="xmp")
        r = writer.report
        out(args, {"written": r.written, "unchanged": r.unchanged, "failed": r.failed,
                   "removed": r.removed, "cleaned": r.cleaned, "style": writer.style,
                   "sync": bool(lib.settings.xmp_sync),
                   "errors": [{"sidecar": s, "reason": why} for s, why in r.errors]},
            lambda: "")
        if not args.json:
            print(writer.summary(), file=sys.stderr)
        if r.failed:  # the advice fits the cause (permissions only when that was it)
            return fail(args, writer.failure_line(), EXIT_FAIL)
    return EXIT_OK

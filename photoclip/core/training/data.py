"""Albums -> labelled photos -> a fixed held-out split -> model-ready pixels.

Training and evaluation read photos the same way the indexer does (one decode, the model's own
resize and crop), so an accuracy measured here is the accuracy search and tagging will see.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from photoclip.core.encoder.preprocess import normalise_pixels, pixel_transform, resize_for_model
from photoclip.core.errors import ImageError, PhotoclipError
from photoclip.core.imaging import decode, is_image_path
from photoclip.core.indexing import file_hash
from photoclip.core.types import Progress

if TYPE_CHECKING:
    from photoclip.core.catalog import Catalog
    from photoclip.core.encoder import ClipEncoder

log = logging.getLogger(__name__)

SPLIT_SEED = 0  # fixed: the same albums always give the same held-out photos
# RandomResizedCrop as in CLIP's training recipe (seed §5): barely-there crops, because heavier
# augmentation would break the match between a photo and its caption.
CROP_SCALE = (0.9, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


class DataError(PhotoclipError):
    """The albums cannot be used for training or evaluation (too few labels or photos...)."""


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # index into Albums.labels


@dataclass(frozen=True)
class Albums:
    """Labelled photos: from DIR/<label>/*.jpg, a label set's accepted tags, or the library's
    albums."""

    source: str  # the albums folder, "label set NAME" or "albums A, B"
    labels: tuple[str, ...]  # the label texts captions are made from
    samples: tuple[Sample, ...]
    templates: tuple[str, ...] | None = None  # a label set's own prompts; None = the defaults

    def counts(self) -> list[int]:
        out = [0] * len(self.labels)
        for s in self.samples:
            out[s.label] += 1
        return out


def label_text(folder_name: str) -> str:
    """A folder name as caption text: "grandmas_garden" -> "grandmas garden"."""
    return re.sub(r"\s+", " ", folder_name.replace("_", " ")).strip()


def read_albums(folder: str | os.PathLike[str]) -> Albums:
    """DIR/<label>/**/*.jpg: every subfolder is a label; photos directly in DIR are ignored."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"{folder} is not a folder: give a folder with one subfolder per label.")
    root = root.resolve()
    labels: list[str] = []
    samples: list[Sample] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        paths = sorted(
            str(p)
            for p in sub.rglob("*")
            if p.is_file()
            and is_image_path(p)
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        if not paths:
            log.info("album %s has no photos; skipped", sub.name)
            continue
        text = label_text(sub.name)
        if text in labels:
            raise DataError(
                f"Two albums in {root} give the label {text!r}: rename one of the folders."
            )
        labels.append(text)
        samples.extend(Sample(p, len(labels) - 1) for p in paths)
    _check_enough(labels, str(root))
    return Albums(str(root), tuple(labels), tuple(samples))


def read_label_set(catalog: Catalog, name: str) -> Albums:
    """A label set's positives: tags the user set or accepted. Photos with more than one such
    label in the set are left out, since each photo here must have exactly one label."""
    from photoclip.core.tagging import TagStore

    label_set = TagStore(catalog).label_set(name)
    if label_set is None:
        raise DataError(f"No label set named {name!r}: see `photoclip labels list`.")
    rows = catalog.query(
        """SELECT p.path, l.name FROM tags t
           JOIN labels l ON l.id = t.label_id JOIN photos p ON p.id = t.photo_id
           WHERE l.set_id = ? AND p.status = 'ok'
             AND (t.source = 'user' OR t.accepted = 1) AND coalesce(t.accepted, 1) != 0
           ORDER BY p.path""",
        (label_set.id,),
    )
    by_photo: dict[str, set[str]] = defaultdict(set)
    for path, label in rows:
        by_photo[str(path)].add(str(label))
    ambiguous = sum(1 for v in by_photo.values() if len(v) > 1)
    if ambiguous:
        log.info("label set %s: %d photos with several labels left out", name, ambiguous)
    labels = sorted({next(iter(v)) for v in by_photo.values() if len(v) == 1})
    index = {label: i for i, label in enumerate(labels)}
    samples = tuple(
        Sample(path, index[next(iter(v))]) for path, v in by_photo.items() if len(v) == 1
    )
    _check_enough(labels, f"label set {label_set.name}")
    return Albums(f"label set {label_set.name}", tuple(labels), samples, label_set.templates)


def read_catalog_albums(albums: Mapping[str, Sequence[str]]) -> Albums:
    """The library's albums (album name -> its photos' paths, a smart album's as its query
    finds them now): each album a label, its name the label's text. A photo in more than one
    of them is left out, since each photo here must have exactly one label."""
    if len(albums) < 2:
        raise DataError("Training and evaluation on albums need at least 2 albums, each album "
                        "a label: name them with --album A B ...")
    by_photo: dict[str, set[str]] = defaultdict(set)
    for name, paths in albums.items():
        for path in paths:
            by_photo[path].add(name)
    ambiguous = sum(1 for v in by_photo.values() if len(v) > 1)
    if ambiguous:
        log.info("albums: %d photos in several of the chosen albums left out", ambiguous)
    source = "albums " + ", ".join(albums)
    empty = [name for name, paths in albums.items()
             if not any(len(by_photo[p]) == 1 for p in paths)]
    if empty:
        raise DataError(f"Album(s) {', '.join(empty)} have no photos of their own (none, or "
                        "only photos that are also in another chosen album): add photos, or "
                        "leave them out.")
    labels = list(albums)
    index = {name: i for i, name in enumerate(labels)}
    samples = tuple(Sample(path, index[next(iter(v))])
                    for path, v in sorted(by_photo.items()) if len(v) == 1)
    _check_enough(labels, source)
    return Albums(source, tuple(label_text(name) for name in labels), samples)


def _check_enough(labels: Sequence[str], where: str) -> None:
    if len(labels) < 2:
        raise DataError(
            f"{where} has {len(labels)} label(s) with photos; training and evaluation need at "
            "least 2 (one subfolder of photos per label)."
        )


_SIDES = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def mirror_safe(text: str) -> bool:
    """Whether a caption stays true of the photo mirrored left to right."""
    return _SIDES.search(text) is None


# -- the held-out split ------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]  # indices into the samples
    held_out: tuple[int, ...]


def split_rank(key: str, seed: int = SPLIT_SEED) -> bytes:
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()


def stratified_split(
    labels: Sequence[int], keys: Sequence[str], fraction: float, seed: int = SPLIT_SEED
) -> Split:
    """Hold out round(fraction * n) photos of every label (at least one, and never a label's
    only photo), ranked by a seeded hash of each photo's key.

    Keys are content hashes, not paths or list order: a photo stays on its side of the split
    when albums are moved, renamed or listed in another order.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"The evaluation split must be in (0, 1], not {fraction}.")
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    train: list[int] = []
    held: list[int] = []
    for members in by_label.values():
        ranked = sorted(members, key=lambda i: split_rank(keys[i], seed))
        if fraction >= 1.0:
            k = len(ranked)
        elif len(ranked) < 2:
            k = 0  # a single photo teaches more than it can measure
        else:
            k = min(max(1, round(fraction * len(ranked))), len(ranked) - 1)
        held.extend(ranked[:k])
        train.extend(ranked[k:])
    return Split(tuple(sorted(train)), tuple(sorted(held)))


# -- decoded photos ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocessing:
    """The model's input recipe (from ClipEncoder), so training sees what inference sees."""

    resize_to: int | tuple[int, int]  # int: shortest edge; tuple: exact (height, width)
    side: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: Image.Resampling

    @classmethod
    def of(cls, encoder: ClipEncoder) -> Preprocessing:
        prep = encoder.preprocessing
        return cls(prep.resize_to, prep.crop[0], prep.mean, prep.std, prep.resample)

    def resize(self, image: Image.Image) -> Image.Image:
        """The model's resize step (ClipEncoder.preprocess's), without the crop."""
        return resize_for_model(image, self.resize_to, self.resample)

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """(..., H, W, 3) uint8 -> (..., 3, H, W) float32 with the model's mean and std."""
        return normalise_pixels(pixels, *pixel_transform(self.mean, self.std))


@dataclass
class Photos:
    """Decoded photos at model scale, as uint8 (one decode per run; ~S*S*4 bytes each).

    Entry i of samples, images and hashes is one readable photo; unreadable ones are in failures.
    """

    prep: Preprocessing
    samples: list[Sample] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8, resized
    hashes: list[str] = field(default_factory=list)  # content hash, the indexer's identity
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [s.label for s in self.samples]

    def eval_pixels(self, indices: Sequence[int]) -> np.ndarray:
        """Centre-cropped model input, identical to ClipEncoder.preprocess."""
        side = self.prep.side
        crops = []
        for i in indices:
            img = self.images[i]
            h, w = img.shape[:2]
            top, left = (h - side) // 2, (w - side) // 2
            crops.append(_crop_padded(img, top, left, side, side))
        return self.prep.normalise(np.stack(crops))

    def train_pixels(self, indices: Sequence[int], rng: np.random.Generator,
                     mirror: Sequence[bool] | None = None) -> np.ndarray:
        """Augmented model input: random resized crop (scale 0.9-1), random horizontal flip
        (only where `mirror[n]` allows it: a caption saying "left" or "right" would lie)."""
        side = self.prep.side
        out = np.empty((len(indices), side, side, 3), dtype=np.uint8)
        for n, i in enumerate(indices):
            img = self.images[i]
            top, left, h, w = random_resized_crop_box(img.shape[0], img.shape[1], rng)
            crop = Image.fromarray(img).resize(
                (side, side), resample=self.prep.resample, box=(left, top, left + w, top + h)
            )
            arr = np.asarray(crop)
            flip = rng.random() < 0.5  # drawn either way: the same seed, the same crops
            out[n] = arr[:, ::-1] if flip and (mirror is None or mirror[n]) else arr
        return self.prep.normalise(out)


def _crop_padded(img: np.ndarray, top: int, left: int, h: int, w: int) -> np.ndarray:
    """img[top:top+h, left:left+w], zero-padded where the box leaves the image (as PIL's crop,
    which ClipEncoder.preprocess uses, pads a photo smaller than the model input)."""
    out = np.zeros((h, w, 3), dtype=np.uint8)
    H, W = img.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, H), min(left + w, W)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = img[y0:y1, x0:x1]
    return out


def random_resized_crop_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a crop covering `scale` of the area with aspect in `ratio`:
    torchvision's RandomResizedCrop.get_params, which is not installable here."""
    area = height * width
    log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = float(np.exp(rng.uniform(*log_ratio)))
        w = round(np.sqrt(target * aspect))
        h = round(np.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    # Fallback, as torchvision: the whole image, cropped centrally to the allowed aspect range.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def load_photos(
    samples: Sequence[Sample],
    photos: Photos,
    *,
    workers: int = 0,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[Progress]:
    """Decode every sample once into `photos`, yielding Progress as it goes.

    A photo that cannot be read is skipped and listed in photos.failures, never fatal.
    """
    prep = photos.prep
    total = len(samples)

    def load(sample: Sample) -> tuple[np.ndarray, str] | str:
        try:
            data = Path(sample.path).read_bytes()
        except OSError as exc:
            return f"cannot read file: {exc.strerror or exc}"
        try:
            decoded = decode(data, min_side=prep.side, name=sample.path)
        except ImageError as exc:
            return exc.reason
        image = prep.resize(decoded.image)
        return np.asarray(image, dtype=np.uint8), file_hash(data)

    workers = workers or (os.cpu_count() or 2)
    with ThreadPoolExecutor(workers, thread_name_prefix="train-decode") as pool:
        for n, result in enumerate(pool.map(load, samples)):
            sample = samples[n]
            if isinstance(result, str):
                photos.failures.append((sample.path, result))
                log.info("skipped %s: %s", sample.path, result)
            else:
                photos.samples.append(sample)
                photos.images.append(result[0])
                photos.hashes.append(result[1])
            if (n + 1) % 16 == 0 or n + 1 == total:
                yield Progress("decode", n + 1, total, failed=len(photos.failures),
                               message="reading photos")
                if cancel is not None and cancel():
                    return


# -- checkpoints -------------------------------------------------------------------------------


def fingerprint(*parts: object) -> str:
    """A short stable digest of JSON-able parts (what a resumable checkpoint was made from)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

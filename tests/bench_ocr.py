"""Generated text photos and OCR accuracy figures: used by tests/core/test_ocr_accuracy.py
(small run) and as a script for the bigger one (not collected: no test_ prefix):

    PYTHONPATH=. python tests/bench_ocr.py --text 500 --plain 500 --size 1200x900

Also a folder as a new user's might be (receipts_folder: receipts, a boarding pass, a Chinese
invoice and photos without text), for the end-to-end tests.

Text photos: one target word (English word, ticket-like code, or Chinese) plus distractor
lines, in DejaVu Sans/Serif/Mono or Droid Sans Fallback (CJK), cap height 12-80 px, rotated up
to +-20 degrees, on light or dark backgrounds with a faded photo behind, sometimes blurred,
with noise, saved as JPEG at quality 50-95. Photos without text: skimage's sample photos,
cropped, flipped and recoloured, and drawn shapes.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = Path("/usr/share/fonts/truetype")
LATIN_FONTS = ["dejavu/DejaVuSans.ttf", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSans-Bold.ttf",
               "dejavu/DejaVuSansMono.ttf"]
CJK_FONT = "droid/DroidSansFallbackFull.ttf"
# Cap height as a share of the font size (DejaVu: 0.73 em; Droid's Han glyphs: ~0.85 em).
CAP_LATIN, CAP_CJK = 0.73, 0.85
BUCKETS = ((12, 16), (16, 20), (20, 30), (30, 50), (50, 81))
WORDS_EN = ["garden", "window", "receipt", "ticket", "station", "airport", "boarding", "museum",
            "bakery", "pharmacy", "hotel", "coffee", "market", "library", "harbour", "bridge",
            "parking", "invoice", "kitchen", "theatre", "cinema", "school", "office", "bicycle",
            "holiday", "concert", "stadium", "highway", "village", "forest", "mountain",
            "island", "river", "castle", "subway", "platform", "gateway", "counter", "payment",
            "balance", "account", "voucher", "coupon", "discount", "member", "welcome", "exit",
            "entrance", "danger", "caution", "warning", "private", "closed", "open", "monday",
            "friday", "sunday", "january", "october", "summer", "winter", "morning", "evening",
            "dinner", "lunch", "breakfast", "butter", "cheese", "tomato", "orange", "banana",
            "lemon", "cherry", "pepper", "garlic", "onion", "salmon", "chicken", "noodle",
            "pizza", "burger", "dessert", "sugar", "flour", "candle", "lamp", "mirror", "carpet",
            "pillow", "blanket", "jacket", "sweater", "boots", "gloves", "scarf", "camera",
            "laptop", "phone", "charger", "battery", "cable", "printer", "paper", "pencil",
            "marker", "folder", "letter", "stamp", "parcel", "courier", "delivery", "license",
            "passport", "visa", "customs", "border", "flight", "gate", "seat", "row", "class",
            "economy", "business", "first"]
_ZH = ("发票收据北京上海广州深圳机场车站登机车票银行超市餐厅医院学校公司"
       "地址电话日期金额合计现金找零欢迎出口入口停车酒店咖啡面包牛奶水果"
       "蔬菜鸡蛋米饭面条茶叶啤酒可乐香蕉苹果橙子西瓜葡萄书店药店邮局公园"
       "博物图书剧院电影音乐体育地铁公交出租火车飞机轮船")
# two-character words, as most Chinese words are
WORDS_ZH = [_ZH[i:i + 2] for i in range(0, len(_ZH), 2)]
DISTRACT = ["TOTAL", "12.50", "QTY 2", "Thank you", "No. 0042", "VAT 19%", "CASH", "08:15",
            "谢谢", "单价", "数量"]
# Not motorcycle_left.png: its tank says YAMAHA, which the recogniser rightly reads.
SKIMAGE = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "hubble_deep_field.jpg",
           "immunohistochemistry.png", "coins.png", "camera.png", "grass.png", "gravel.png",
           "brick.png"]


@dataclass
class Sample:
    jpeg: bytes
    target: str | None  # the word to find it by; None for a photo without text
    cap: int = 0
    lang: str = ""
SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
DOCUMENTS = {
    "ikea.jpg": ["IKEA Frankfurt", "KOTTBULLAR 4.99", "TOTAL 37.80 EUR"],
    "rewe.jpg": ["REWE Markt", "MILCH 1.19", "SUMME 12.40"],
    "boarding.jpg": ["BOARDING PASS", "LH 123 FRA-PEK", "GATE B44"],
    "fapiao.jpg": ["增值税发票", "金额 128.00"],
}


def fonts_present() -> bool:
    return (FONTS / "dejavu/DejaVuSans.ttf").exists() and (
        FONTS / "droid/DroidSansFallbackFull.ttf").exists()


def document(lines: list[str], size: tuple[int, int] = (800, 600)) -> Image.Image:
    img = Image.new("RGB", size, (246, 244, 238))
    draw = ImageDraw.Draw(img)
    latin = ImageFont.truetype(str(FONTS / "dejavu/DejaVuSans.ttf"), 34)
    cjk = ImageFont.truetype(str(FONTS / "droid/DroidSansFallbackFull.ttf"), 40)
    for i, line in enumerate(lines):
        font = cjk if any(ord(c) > 0x2E80 for c in line) else latin
        draw.text((50, 50 + 80 * i), line, font=font, fill=(25, 25, 25))
    return img


def receipts_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in DOCUMENTS.items():
        document(lines).save(folder / name, quality=88)
    for name in ("astronaut.png", "chelsea.png"):
        shutil.copy(SKIMAGE_DATA / name, folder / name)
    return folder


def _sources() -> list[Image.Image]:
    folder = Path(skimage.__file__).parent / "data"
    return [Image.open(folder / n).convert("RGB") for n in SKIMAGE if (folder / n).exists()]


def _background(rng: np.random.Generator, size: tuple[int, int], sources: list[Image.Image],
                dark: bool) -> Image.Image:
    photo = sources[rng.integers(len(sources))].resize(size)
    base = rng.integers(0, 60) if dark else rng.integers(195, 256)
    flat = Image.new("RGB", size, (int(base),) * 3)
    return Image.blend(flat, photo, float(rng.uniform(0.1, 0.3)))


def targets(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(word, language) for n photos, all different: words first, then codes and pairs."""
    en, zh = list(WORDS_EN), list(WORDS_ZH)
    rng.shuffle(en)
    rng.shuffle(zh)
    out: list[tuple[str, str]] = []
    for i in range(n):
        if i % 4 == 3:  # a quarter Chinese
            word = zh.pop() if zh else WORDS_ZH[i % len(WORDS_ZH)] + WORDS_ZH[(i // 7) % 60]
            out.append((word, "zh"))
        elif i % 4 == 2 or not en:  # codes as on tickets: LH4711
            letters = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, 2))
            out.append((f"{letters}{i:03d}{int(rng.integers(0, 10))}", "en"))
        else:
            out.append((en.pop().upper() if rng.random() < 0.4 else en.pop(), "en"))
    return out


def text_photo(rng: np.random.Generator, word: str, lang: str, cap: int,
               size: tuple[int, int], sources: list[Image.Image]) -> bytes:
    dark = bool(rng.random() < 0.4)
    img = _background(rng, size, sources, dark)
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    if lang == "zh":
        font = ImageFont.truetype(str(FONTS / CJK_FONT), max(8, round(cap / CAP_CJK)))
    else:
        font = ImageFont.truetype(str(FONTS / LATIN_FONTS[rng.integers(len(LATIN_FONTS))]),
                                  max(8, round(cap / CAP_LATIN)))
    x0, y0, x1, y1 = draw.textbbox((0, 0), word, font=font)
    w, h = x1 - x0, y1 - y0
    # Room for the rotation (up to 20 degrees: the ends move by w/2 * sin 20 = 0.17 w).
    angle = float(rng.uniform(-20, 20))
    lift = int(abs(np.sin(np.radians(angle))) * w / 2) + 10
    if size[1] - h - 2 * lift < 0:
        angle, lift = 0.0, 10
    x = int(rng.integers(10, max(11, size[0] - w - 10)))
    y = int(rng.integers(lift, max(lift + 1, size[1] - h - lift)))
    draw.text((x - x0, y - y0), word, font=font, fill=255)
    small = ImageFont.truetype(str(FONTS / CJK_FONT), max(14, cap // 2))
    for _ in range(int(rng.integers(0, 3))):  # distractor lines elsewhere
        dy = int(rng.integers(0, size[1] - 30))
        if abs(dy - y) > h + 20:
            draw.text((int(rng.integers(10, size[0] // 2)), dy),
                      DISTRACT[rng.integers(len(DISTRACT))], font=small, fill=255)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC,
                         center=(x + w / 2, y + h / 2))
    ink = (int(rng.integers(200, 256)),) * 3 if dark else (int(rng.integers(0, 60)),) * 3
    img.paste(Image.new("RGB", size, ink), (0, 0), layer)
    return _degrade(rng, img)


def plain_photo(rng: np.random.Generator, size: tuple[int, int],
                sources: list[Image.Image]) -> bytes:
    if rng.random() < 0.75:
        src = sources[rng.integers(len(sources))]
        w, h = src.size
        cw, ch = int(w * rng.uniform(0.5, 1)), int(h * rng.uniform(0.5, 1))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = src.crop((left, top, left + cw, top + ch)).resize(size)
        if rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.asarray(img).astype(np.float32) * rng.uniform(0.7, 1.3, 3)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    else:
        img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 12))):
            a, b = rng.integers(0, size[0], 2), rng.integers(0, size[1], 2)
            box = (int(min(a)), int(min(b)), int(max(a)), int(max(b)))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return _degrade(rng, img)


def _degrade(rng: np.random.Generator, img: Image.Image) -> bytes:
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0, float(rng.uniform(0, 10)), arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(50, 96)))
    return buf.getvalue()


def make_set(n_text: int, n_plain: int, size: tuple[int, int] = (1200, 900),
             seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    sources = _sources()
    out: list[Sample] = []
    for i, (word, lang) in enumerate(targets(n_text, rng)):
        lo, hi = BUCKETS[i % len(BUCKETS)]
        cap = int(rng.integers(lo, hi))
        out.append(Sample(text_photo(rng, word, lang, cap, size, sources), word, cap, lang))
    out += [Sample(plain_photo(rng, size, sources), None) for _ in range(n_plain)]
    return out


def evaluate(samples: list[Sample], engine: object | None = None) -> dict[str, object]:
    """Read every sample as the text pass does (skip probe, then the recogniser), then: word
    recall by cap-height bucket, recall@1/@5 of finding each target's photo by typing the
    target, share of photos without text where text was found, seconds per photo."""
    from photoclip.core.imaging import decode
    from photoclip.core.ocr.engine import OcrEngine
    from photoclip.core.ocr.job import DECODE_MIN_SIDE
    from photoclip.core.ocr.normalise import compact, words
    from photoclip.core.ocr.search import match_quality
    from photoclip.core.ocr.skip import worth_reading

    eng = engine if isinstance(engine, OcrEngine) else OcrEngine()
    eng.load()
    texts: list[str] = []
    skipped: list[bool] = []
    seconds: list[float] = []
    for s in samples:
        start = time.perf_counter()
        image = decode(s.jpeg, DECODE_MIN_SIDE).image
        worth = worth_reading(eng, image)
        lines = eng.read(image) if worth else []
        seconds.append(time.perf_counter() - start)
        skipped.append(not worth)
        texts.append("\n".join(ln.text for ln in lines))
    norms = [compact(" ".join(t.splitlines())) for t in texts]
    found_by_bucket: dict[str, list[int]] = {}
    ranks: list[int] = []
    for i, s in enumerate(samples):
        if s.target is None:
            continue
        bucket = next(f"{lo}-{hi - 1}" for lo, hi in BUCKETS if lo <= s.cap < hi)
        q = compact(s.target)
        found_by_bucket.setdefault(bucket, []).append(int(q in norms[i]))
        scores = [match_quality(words(s.target), q, n, t) for n, t in zip(norms, texts,
                                                                          strict=True)]
        mine = scores[i]
        if mine is None:
            ranks.append(10**6)
            continue
        # ties broken against the target: honest ranks
        ranks.append(1 + sum(1 for j, sc in enumerate(scores)
                             if j != i and sc is not None and sc >= mine))
    plain = [i for i, s in enumerate(samples) if s.target is None]
    text_ids = [i for i, s in enumerate(samples) if s.target is not None]
    big = [r for r, s in zip(ranks, [samples[i] for i in text_ids], strict=True) if s.cap >= 20]

    def at(k: int, rs: list[int]) -> float:
        return round(sum(r <= k for r in rs) / max(1, len(rs)), 3)

    return {
        "text_photos": len(text_ids), "plain_photos": len(plain),
        "word_recall_by_cap_px": {b: round(sum(v) / len(v), 3)
                                  for b, v in sorted(found_by_bucket.items(),
                                                     key=lambda kv: int(kv[0].split("-")[0]))},
        "recall_at_1": at(1, ranks), "recall_at_5": at(5, ranks),
        "recall_at_5_cap_ge_20": at(5, big),
        "plain_with_text_found": round(sum(bool(texts[i]) for i in plain) / max(1, len(plain)),
                                       3),
        "plain_skipped": round(sum(skipped[i] for i in plain) / max(1, len(plain)), 3),
        "text_skipped": round(sum(skipped[i] for i in text_ids) / max(1, len(text_ids)), 3),
        "s_per_text_photo": round(float(np.mean([seconds[i] for i in text_ids] or [0])), 3),
        "s_per_plain_photo": round(float(np.mean([seconds[i] for i in plain] or [0])), 3),
        "misses": [samples[i].target for i, r in zip(text_ids, ranks, strict=True) if r > 5],
        "found_on_plain": [texts[i] for i in plain if texts[i]],
    }


def speed(rounds: int = 3) -> dict[str, float]:
    """CPU seconds per photo on one core (onnxruntime with 1 thread; process time, so other
    load on the machine counts little): a 12-MP phone photo with and without text through the
    text pass (decode, skip probe, read), and the probe vs a full read at 1200x900."""
    from photoclip.core.imaging import decode
    from photoclip.core.ocr.engine import OcrEngine
    from photoclip.core.ocr.job import DECODE_MIN_SIDE
    from photoclip.core.ocr.skip import probe, worth_reading

    rng = np.random.default_rng(0)
    sources = _sources()
    eng = OcrEngine(threads=1)
    eng.load()
    big = (4000, 3000)
    with_text = text_photo(rng, "RECEIPT 4711", "en", 60, big, sources)
    without = plain_photo(rng, big, sources)
    doc = document(DOCUMENTS["ikea.jpg"], size=(1200, 900))

    def cpu(fn: object) -> float:
        times = []
        for _ in range(rounds):
            t = time.process_time()
            fn()  # type: ignore[operator]
            times.append(time.process_time() - t)
        return round(float(np.median(times)), 3)

    def text_pass(data: bytes) -> None:
        image = decode(data, DECODE_MIN_SIDE).image
        if worth_reading(eng, image):
            eng.read(image)

    return {
        "s_12mp_with_text": cpu(lambda: text_pass(with_text)),
        "s_12mp_without_text": cpu(lambda: text_pass(without)),
        "s_probe_1200x900": cpu(lambda: eng.text_map(probe(doc))),
        "s_full_read_1200x900": cpu(lambda: eng.read(doc)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--text", type=int, default=500)
    p.add_argument("--plain", type=int, default=500)
    p.add_argument("--size", default="1200x900")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", action="store_true", help="CPU seconds per photo instead")
    a = p.parse_args()
    if a.speed:
        print(json.dumps(speed(), indent=2))
        return
    w, h = (int(v) for v in a.size.split("x"))
    start = time.perf_counter()
    samples = make_set(a.text, a.plain, (w, h), a.seed)
    result = evaluate(samples)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()

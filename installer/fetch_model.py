"""Save a CLIP model as a folder to ship with an offline install.

    python installer/fetch_model.py [MODEL] [--out DIR]

MODEL is a Hugging Face hub id (default: photoclip's default model) or a model folder. The
folder written (default: build/models/<id with / as -->) holds the model, its tokenizer and its
image preprocessing, which is all photoclip loads. Give it to install.sh as
PHOTOCLIP_MODEL_DIR, or to the PyInstaller build as PHOTOCLIP_BUNDLE_MODEL. Run it with an
environment that has photoclip's dependencies (the project's .venv) on a connected machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photoclip.config import DEFAULT_MODEL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, help="folder to write (default build/models/NAME)")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

    # Named like the hub id so that photoclip prefers it as the default model (config.py).
    name = Path(args.model).name if Path(args.model).is_dir() else args.model.replace("/", "--")
    out = args.out or Path(__file__).resolve().parents[1] / "build" / "models" / name
    print(f"saving {args.model} to {out} ...")
    CLIPModel.from_pretrained(args.model).save_pretrained(out)
    AutoTokenizer.from_pretrained(args.model).save_pretrained(out)
    CLIPImageProcessorPil.from_pretrained(args.model).save_pretrained(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"done: {size / 1e6:.0f} MB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

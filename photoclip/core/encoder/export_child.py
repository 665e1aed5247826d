"""The text tower's ONNX export (onnx_text.py) in a process of its own, at low priority.

Exporting traces the model and writes a few hundred MB of protobuf; in the process that runs the
window it held Python's interpreter lock for up to ~1 s at a time (a ViT-B/32 text tower: a
952-ms UI stall while the model loaded). The export only serves later cold queries from other
processes, so the window's process hands it to a child: `python -m
photoclip.core.encoder.export_child SOURCE MODEL_ID TARGET` loads the model on the CPU itself
(fp32), exports, and exits. The target is replaced whole, so a child and a command-line export
of the same model never leave half a file.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

NICE = 10  # below the window and the indexer: the export is for later


def start_export(source: str, model_id: str, target: Path) -> subprocess.Popen[bytes] | None:
    """Start the export child (None when it cannot start: queries then use torch, as before)."""
    argv = [sys.executable, "-m", "photoclip.core.encoder.export_child", source, model_id,
            str(target)]
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    except OSError:
        log.info("the text tower export could not start", exc_info=True)
        return None


def main(argv: list[str]) -> int:
    source, model_id, target = argv
    if hasattr(os, "nice"):
        os.nice(NICE)
    import torch

    from photoclip.core.encoder import families
    from photoclip.core.encoder.loading import from_pretrained
    from photoclip.core.encoder.onnx_text import export_text

    torch.set_num_threads(1)
    model, tokenizer, family = from_pretrained(source, model_id)
    model.eval()
    max_len = families.text_max_len(family, model, tokenizer)
    done = export_text(model, tokenizer, family, max_len, model_id, Path(source), Path(target))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

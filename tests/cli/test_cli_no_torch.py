"""Commands that need no model start without torch or transformers (issue 23, item 1), and
none of them, a cold text query included, pays for pillow-heif (~50 ms) without a photo to open.

Each command runs in a fresh interpreter, through `photoclip.cli.main` as the `photoclip`
script does, and then says which of the heavy modules it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import run_json
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from photoclip.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "heavy": [m for m in ("torch", "transformers", "pillow_heif")
                                          if m in sys.modules]}))
"""


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_clip_dir) -> Path:
    """A library with three indexed photos, one of them rated, in an album, with a hand tag."""
    folder = tmp_path_factory.mktemp("photos")
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (96, 80), colour).save(folder / f"p{i}.jpg")
    library = tmp_path_factory.mktemp("lib-no-torch")
    env = {"PHOTOCLIP_LIBRARY": str(library)}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    mp.delenv("PHOTOCLIP_TEXT_ONNX", raising=False)  # `add` exports the text tower
    try:
        from photoclip.cli import main
        assert main(["add", str(folder), "--model", str(tiny_clip_dir), "--json"]) == 0
        assert main(["albums", "create", "trip"]) == 0
        assert main(["albums", "add", "trip", str(folder / "p0.jpg")]) == 0
        assert main(["tags", "set", str(folder / "p0.jpg"), "red"]) == 0
    finally:
        mp.undo()
    return library


def _env(library: Path) -> dict[str, str]:
    """A fresh process's environment, with the ONNX text tower on (the suite turns it off)."""
    env = {**os.environ, "PHOTOCLIP_LIBRARY": str(library), "PYTHONPATH": str(ROOT)}
    env.pop("PHOTOCLIP_TEXT_ONNX", None)
    return env


def _heavy_imports(library: Path, *argv: str) -> list[str]:
    env = _env(library)
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stderr
    return result["heavy"]


PHOTO = "{photos}/p0.jpg"
COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["labels", "list"],
    ["labels", "show", "animals"],
    ["albums", "list"],
    ["albums", "show", "trip"],
    ["rate", "3", PHOTO],
    ["fav", PHOTO],
    ["models", "list"],
    ["xmp"],
    ["search", "type:jpg"],
    ["search", "rating:3"],
]


@pytest.mark.slow
@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_commands_without_a_model_never_import_torch(indexed, argv, capsys):
    photos = run_json(capsys, "--library", str(indexed), "status")["roots"][0]
    argv = [a.format(photos=photos) for a in argv]
    assert _heavy_imports(indexed, *argv) == []


@pytest.mark.slow
def test_listing_a_photos_tags_never_imports_torch(indexed, capsys):
    # The hand tag's prompt ("my tags" is disabled, so never encoded) is encoded by the text
    # tower `add` exported, run by onnxruntime; the logit scale comes from the weights file.
    pytest.importorskip("onnxruntime")
    photos = run_json(capsys, "--library", str(indexed), "status")["roots"][0]
    assert _heavy_imports(indexed, "tags", f"{photos}/p0.jpg") == []


@pytest.mark.slow
def test_a_cold_text_query_answers_without_torch_as_torch_does(indexed, capsys):
    """`add` loaded the model and exported its text tower; a later `search "..."` in a fresh
    process answers through it, with the ranking a torch run gives."""
    pytest.importorskip("onnxruntime")
    assert _heavy_imports(indexed, "search", "a red photo") == []
    env = _env(indexed)

    def hits() -> list[tuple[str, float]]:
        proc = subprocess.run([sys.executable, "-m", "photoclip", "search", "a red photo",
                               "--json"], env=env, capture_output=True, text=True,
                              timeout=120, check=True)
        return [(h["path"], h["score"]) for h in json.loads(proc.stdout)["results"]]

    cold = hits()
    export = indexed / "text-onnx"
    export.rename(indexed / "text-onnx-hidden")
    try:
        torch_run = hits()  # no export: torch answers (and exports again)
    finally:
        import shutil
        shutil.rmtree(export, ignore_errors=True)
        (indexed / "text-onnx-hidden").rename(export)
    assert [p for p, _ in cold] == [p for p, _ in torch_run]
    assert [s for _, s in cold] == pytest.approx([s for _, s in torch_run], abs=2e-3)

"""The first commands in a new library: the first result never waits for the CPU fast-path
measurement, --debug says each thing once, and a command that fails leaves no library folder
behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from album_support import colour_albums
from cli_support import run, run_json

from photoclip.core import fastpath
from photoclip.core import library as library_module

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def photos(tmp_path) -> Path:
    return colour_albums(tmp_path / "photos", per_album=2)


@pytest.fixture
def measured(monkeypatch, capsys) -> list[dict]:
    """Each fast-path measurement the library runs (quick), with what the command had printed
    when it began."""
    monkeypatch.delenv("PHOTOCLIP_PRECISION")
    calls: list[dict] = []
    real = fastpath.measure

    def spy(model, batch_size=16, min_seconds=1.0, reference=None):
        out, err = capsys.readouterr()
        calls.append({"out": out, "err": err, "reference": reference})
        sys.stdout.write(out)  # keep it for the test to read as the command's output
        sys.stderr.write(err)
        return real(model, batch_size=4, min_seconds=0.05, reference=reference)

    monkeypatch.setattr(library_module, "measure_fast_path", spy)
    return calls


def test_add_answers_before_the_fast_path_is_measured_once(capsys, photos, tiny_clip_dir,
                                                           measured):
    code, _out, err = run(capsys, "add", str(photos), "--model", str(tiny_clip_dir))
    assert code == 0, err
    (call,) = measured
    assert "6 indexed" in call["err"]  # the useful result came first...
    assert "measuring the CPU fast path (once) ..." in err  # ...then the measurement, said
    assert "CPU fast path:" in err
    assert call["reference"] is not None  # the model already loaded, not a second load
    library = Path(os.environ["PHOTOCLIP_LIBRARY"])
    settings = json.loads((library / "settings.json").read_text())
    assert set(settings["fast_path"]) == {str(tiny_clip_dir)}

    code, _, err = run(capsys, "index")
    assert code == 0
    assert len(measured) == 1  # once per model
    assert "fast path" not in err


def test_json_output_comes_before_the_measurement(capsys, photos, tiny_clip_dir, measured):
    code, out, _ = run(capsys, "add", str(photos), "--model", str(tiny_clip_dir), "--json")
    assert code == 0
    assert json.loads(measured[0]["out"])["indexed"] == 6
    assert out == measured[0]["out"]  # nothing more on stdout


def test_a_failed_command_measures_nothing(capsys, tiny_clip_dir, measured):
    code, _, _ = run(capsys, "index", "--model", str(tiny_clip_dir))
    assert code == 1
    assert measured == []


@pytest.mark.parametrize("argv", [["index"], ["add", "{missing}"], ["search", "type:xyz cat"],
                                  ["tags", "{missing}"]])
def test_a_failed_command_leaves_no_new_library_folder(capsys, tmp_path, tiny_clip_dir, argv):
    new = tmp_path / "new" / "lib"
    argv = [a.format(missing=tmp_path / "missing.jpg") for a in argv]
    code, _, _ = run(capsys, "--library", str(new), *argv, "--model", str(tiny_clip_dir))
    assert code in (1, 2)
    assert not (tmp_path / "new").exists()


def test_a_command_that_works_keeps_its_new_library(capsys, tmp_path, photos, tiny_clip_dir):
    new = tmp_path / "new"
    assert run_json(capsys, "--library", str(new), "add", str(photos), "--model",
                    str(tiny_clip_dir))["indexed"] == 6
    # A later failure in the same (now existing) library removes nothing.
    code, _, _ = run(capsys, "--library", str(new), "add", str(tmp_path / "missing"))
    assert code == 1
    assert run_json(capsys, "--library", str(new), "status")["photos"] == 6


def test_a_new_folder_that_gained_other_files_is_left_alone(tmp_path):
    from photoclip.config import remove_new_library

    root = tmp_path / "a" / "lib"
    root.mkdir(parents=True)
    (root / "catalog.sqlite3").write_bytes(b"")
    (root / "notes.txt").write_text("mine")
    remove_new_library(root, [tmp_path / "a", root])
    assert (root / "notes.txt").read_text() == "mine"
    (root / "notes.txt").unlink()
    remove_new_library(root, [tmp_path / "a", root])
    assert not (tmp_path / "a").exists()


def test_debug_says_each_progress_line_once(tmp_path, photos, tiny_clip_dir):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PHOTOCLIP_PRECISION": "fp32",
           "PHOTOCLIP_LIBRARY": str(tmp_path / "lib")}
    done = subprocess.run(
        [sys.executable, "-m", "photoclip", "--debug", "add", str(photos), "--model",
         str(tiny_clip_dir)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert sum(f"loading model {tiny_clip_dir}" in line for line in lines) == 1
    assert sum("model ready on cpu" in line for line in lines) == 1
    assert any(line.startswith("DEBUG ") for line in lines)  # --debug still logs

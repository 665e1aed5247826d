"""`photoclip eval --probes`: five families with intervals, text and JSON, seeded."""

from __future__ import annotations

import pytest
from cli_support import run, run_json

from photoclip.cli import probe_cmds
from photoclip.core.probes import FAMILIES


def test_eval_probes_prints_every_family_with_its_interval(capsys, tiny_clip_dir):
    code, out, err = run(capsys, "eval", "--probes", "--items", "10", "--model",
                         str(tiny_clip_dir))
    assert code == 0, err
    for family in FAMILIES:
        assert f"\n{family} " in out
    assert "95% (Wilson)" in out
    assert "published" in out
    assert "not measured here" in out
    data = run_json(capsys, "eval", "--probes", "--items", "10", "--seed", "2",
                    "--model", str(tiny_clip_dir))
    assert [f["family"] for f in data["families"]] == list(FAMILIES)
    assert all(f["items"] == 10 and f["chance"] == 0.5 for f in data["families"])
    again = run_json(capsys, "eval", "--probes", "--items", "10", "--seed", "2",
                     "--model", str(tiny_clip_dir))
    assert again == data


def test_eval_probes_one_family_and_usage_errors(capsys, tiny_clip_dir):
    data = run_json(capsys, "eval", "--probes", "--family", "binding", "--items", "4",
                    "--model", str(tiny_clip_dir))
    assert [f["family"] for f in data["families"]] == ["binding"]
    with pytest.raises(SystemExit) as usage:
        run(capsys, "eval", "--probes", "--family", "colour")
    assert usage.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # one of --albums, --set, --probes
        run(capsys, "eval", "--probes", "--albums", "x")
    assert usage.value.code == 2


def test_the_clis_family_names_are_cores():
    assert probe_cmds.FAMILIES == FAMILIES

"""Running the CLI in-process, as the CLI tests do (not collected: no test_ prefix)."""

from __future__ import annotations

import json

from photoclip.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)

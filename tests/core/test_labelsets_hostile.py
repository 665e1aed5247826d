"""Issue 17 item 3 (label-set bombs) and item 4 (control characters in names).

What could hang or eat memory on the old code runs in a child process with a time limit and a
1 GB address-space cap, so a regression fails the test instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoclip.core.catalog import Catalog
from photoclip.core.errors import LabelSetError
from photoclip.core.tagging import LabelSetSpec, LabelSpec, TagStore, load_set_file
from photoclip.core.tagging.labelsets import (
    check_name,
    check_templates,
    parse_set,
    read_list_file,
)

ROOT = Path(__file__).resolve().parents[2]
MAX_LABELS = 1000  # the documented limit

BILLION_LAUGHS = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    name: *h
    labels: *h
    """)


def _in_child(code: str, timeout: float = 20) -> str:
    """Run `code` (which prints one line) capped at 1 GB and `timeout` seconds."""
    prelude = ("import resource\n"
               "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def _refusal(call: str) -> str:
    """The LabelSetError message of `call` in a capped child ('' if it did not raise)."""
    return _in_child(f"""
        from photoclip.core.errors import LabelSetError
        from photoclip.core.tagging.labelsets import load_set_file, read_list_file
        try:
            {call}
            print("")
        except LabelSetError as exc:
            print(repr(str(exc)))
    """)


def test_a_billion_laughs_yaml_is_refused_unexpanded(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    message = _refusal(f"load_set_file({str(bomb)!r})")
    assert "alias" in message
    assert len(message) < 300


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
@pytest.mark.parametrize("call", [
    "load_set_file('/dev/zero')",
    "read_list_file('/dev/zero', 'labels')",
    "read_list_file('/dev/zero', 'templates')",
])
def test_dev_zero_is_refused_at_once(call):
    assert "not a regular file" in _refusal(call)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize(("name", "call"), [
    ("set.yaml", "load_set_file({p!r})"),
    ("labels.txt", "read_list_file({p!r}, 'labels')"),
    ("templates.txt", "read_list_file({p!r}, 'templates')"),
])
def test_a_fifo_is_refused_at_once(tmp_path, name, call):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    assert "FIFO" in _refusal(call.format(p=str(fifo)))


def test_a_big_file_is_refused_by_size(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("cat\n" * 300_000)
    with pytest.raises(LabelSetError, match="larger than the 1 MB"):
        read_list_file(big, "labels")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deep_nesting_is_a_one_line_error_not_a_recursion_error(tmp_path, suffix):
    deep = tmp_path / f"deep{suffix}"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(LabelSetError, match="nested more than") as info:
        load_set_file(deep)
    assert "\n" not in str(info.value)
    shallow = tmp_path / f"fine{suffix}"
    shallow.write_text(json.dumps({"name": "x", "labels": ["a", {"name": "b"}]}))
    assert [lb.name for lb in load_set_file(shallow).labels] == ["a", "b"]


def test_too_many_labels_or_templates_are_refused(tmp_path):
    many = tmp_path / "many.yaml"
    many.write_text("name: big\nlabels:\n" + "".join(f"- l{n}\n" for n in range(20_000)))
    with pytest.raises(LabelSetError, match=r"split them into several sets|larger than"):
        load_set_file(many)
    with pytest.raises(LabelSetError, match="split them into several sets"):
        parse_set({"name": "big", "labels": [f"l{n}" for n in range(MAX_LABELS + 1)]})
    listed = tmp_path / "labels.txt"
    listed.write_text("".join(f"l{n}\n" for n in range(MAX_LABELS + 1)))
    with pytest.raises(LabelSetError, match="more than the 1000"):
        read_list_file(listed, "labels")
    with pytest.raises(LabelSetError, match="templates"):
        check_templates([f"photo {n} of a {{}}" for n in range(51)])


def test_the_store_refuses_a_set_over_the_limits_however_it_was_made(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite3")
    spec = LabelSetSpec("big", tuple(LabelSpec(f"l{n}") for n in range(MAX_LABELS + 1)))
    with pytest.raises(LabelSetError, match="split them"):
        TagStore(catalog).save_set(spec)
    assert TagStore(catalog).label_sets() == []
    catalog.close()


def test_error_messages_never_hold_a_huge_value():
    huge = {"name": "x", "labels": [{"name": "a", "x" * 10: ["y" * 100_000] * 100}]}
    with pytest.raises(LabelSetError) as info:
        parse_set(huge)
    assert len(str(info.value)) < 400
    with pytest.raises(LabelSetError) as info:
        parse_set({"name": "x", "labels": ["a"], "threshold": ["z" * 1_000_000]})
    assert len(str(info.value)) < 400


# -- item 4: control characters -------------------------------------------------------------


@pytest.mark.parametrize("name", ["bell\x07tag", "red\x1b[31mcat", "nul\x00", "c1\x9bx",
                                  "bad\udcff"])
def test_names_with_control_characters_are_refused_with_a_readable_reason(name):
    with pytest.raises(LabelSetError, match="control characters") as info:
        check_name(name, "label")
    message = str(info.value)
    assert "\x07" not in message
    assert "\x1b" not in message
    assert "\n" not in message


def test_control_characters_are_refused_in_files_templates_and_hand_made_tags(tmp_path):
    path = tmp_path / "pets.yaml"
    path.write_text('name: pets\nlabels: ["cat", "\\e[2Jdog"]\n')
    with pytest.raises(LabelSetError, match="control characters"):
        load_set_file(path)
    with pytest.raises(LabelSetError, match="control characters"):
        check_templates(["a photo of a {}\x07"])
    catalog = Catalog(tmp_path / "c.sqlite3")
    with pytest.raises(LabelSetError, match="control characters"):
        TagStore(catalog).manual_label("bell\x07tag")
    catalog.close()
    assert check_name("tab\tand  spaces", "label") == "tab and spaces"  # whitespace is fine
    assert check_name("caf\u00e9 \U0001f431", "label") == "caf\u00e9 \U0001f431"


# -- fuzz ------------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from([
    "name: x\n", "labels:\n", "- cat\n", "- &a [a, b]\n", "- *a\n", "[", "]", "{", "}",
    "a: &x [1, 2]\n", "b: [*x, *x, *x]\n", "templates: ['a {}']\n", "threshold: .5\n",
    "floor: nan\n", "- {name: dog, threshold: 2}\n", "!!python/object:os.system\n", "? ",
    "\x07", "\x1b[31m", "- '|'\n", '"\\ud800"', "\t", "&", "*", ":", "---\n", "...\n",
    "- " + "x" * 300 + "\n", "%YAML 1.1\n", "!!binary aGk=\n", "<<: *x\n",
])
_TEXT = st.one_of(st.lists(_FRAGMENTS, max_size=40).map("".join),
                  st.text(max_size=300),
                  st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
                  st.integers(1, 3000).map(lambda n: "- " * n + "x"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(text=_TEXT, suffix=st.sampled_from([".yaml", ".json", ".txt"]))
def test_fuzz_the_label_set_parser_stays_small_and_says_why(tmp_path, text, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    messages = []
    tracemalloc.start()
    try:
        for load in (load_set_file, lambda p: read_list_file(p, "labels"),
                     lambda p: read_list_file(p, "templates")):
            try:
                load(path)
            except LabelSetError as exc:  # anything else fails the test
                messages.append(str(exc))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20
    for message in messages:
        assert "\n" not in message.strip()
        assert len(message) < 600

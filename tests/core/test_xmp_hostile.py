"""Issue 17 items 1 and 4: sidecar paths that are no regular file, control characters in tags.

Each case runs the whole-library `xmp` job in a child process with a time limit and an address
space cap, so a FIFO that blocks or /dev/zero that never ends fails the test instead of hanging
or eating the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from photoclip.core.catalog import Catalog
from photoclip.core.tagging import LabelSetSpec, LabelSpec, SidecarWriter, TagStore
from photoclip.core.tagging.guards import has_control, printable, xml_text
from photoclip.core.tagging.xmp import SidecarError, merge, read_keywords
from photoclip.core.types import PhotoRecord

NAMES = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


def _library(tmp_path: Path, tags: dict[str, str] | None = None) -> tuple[Path, Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    root = catalog.add_root(str(folder))
    store = TagStore(catalog)
    tags = tags or {n: "cat" for n in NAMES}
    ls, _ = store.save_set(LabelSetSpec("things", (LabelSpec("cat"),)))
    for name in NAMES:
        (folder / name).write_bytes(b"\xff\xd8 not really a jpeg " + name.encode())
        pid = catalog.upsert_photo(PhotoRecord(root.id, str(folder / name), 10, 1, name))
        label = tags.get(name)
        if label == "cat":
            store.set_user_tag(pid, ls.labels[0].id)
        elif label:
            # As an older photoclip stored it: written straight into the catalog.
            with catalog.transaction() as c:
                c.execute("INSERT INTO labels(set_id, name) VALUES (?, ?)", (ls.id, label))
                lid = c.execute("SELECT id FROM labels WHERE name = ?", (label,)).fetchone()[0]
                c.execute("INSERT INTO tags(photo_id, label_id, source, accepted) "
                          "VALUES (?, ?, 'user', 1)", (pid, lid))
    catalog.close()
    return tmp_path / "catalog.sqlite3", folder


def _run_xmp(catalog_path: Path, timeout: float = 30) -> dict:
    """The xmp job in a child with 1.5 GB of address space; its report as a dict."""
    code = textwrap.dedent(f"""
        import json, resource
        cap = 1536 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        from photoclip.core.catalog import Catalog
        from photoclip.core.tagging import SidecarWriter
        cat = Catalog({str(catalog_path)!r})
        w = SidecarWriter(cat)
        for _ in w.run():
            pass
        r = w.report
        print(json.dumps({{"written": r.written, "failed": r.failed, "errors": r.errors,
                          "line": w.failure_line()}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]

    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_sidecar_is_refused_at_once_and_the_others_are_written(tmp_path):
    catalog_path, folder = _library(tmp_path)
    os.mkfifo(folder / "b.jpg.xmp")
    report = _run_xmp(catalog_path, timeout=20)
    assert report["written"] == 3
    assert report["failed"] == 1
    [(side, why)] = report["errors"]
    assert side.endswith("b.jpg.xmp")
    assert "FIFO" in why
    for name in ("a.jpg", "c.jpg", "d.jpg"):
        assert read_keywords(folder / f"{name}.xmp")[0] == ["cat"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_sidecar_linked_to_dev_zero_is_not_read(tmp_path):
    catalog_path, folder = _library(tmp_path)
    os.symlink("/dev/zero", folder / "a.jpg.xmp")
    report = _run_xmp(catalog_path, timeout=20)
    assert report["written"] == 3
    [(side, why)] = report["errors"]
    assert side.endswith("a.jpg.xmp")
    assert "symbolic link" in why
    assert os.readlink(folder / "a.jpg.xmp") == "/dev/zero"


def test_a_sidecar_linked_to_a_file_elsewhere_is_neither_read_nor_replaced(tmp_path):
    catalog_path, folder = _library(tmp_path)
    elsewhere = tmp_path / "elsewhere.xmp"
    original = merge(None, ["secret"], ["private|secret"])
    elsewhere.write_bytes(original)
    os.symlink(elsewhere, folder / "c.jpg.xmp")
    report = _run_xmp(catalog_path)
    assert report["written"] == 3
    assert report["failed"] == 1
    assert "symbolic link" in report["errors"][0][1]
    assert (folder / "c.jpg.xmp").is_symlink()
    assert elsewhere.read_bytes() == original
    # Untagged photos' linked sidecars are reported too (they would be opened to clean up).
    assert "permission" not in report["line"]


def test_a_huge_sidecar_is_refused_by_size(tmp_path, monkeypatch):
    from photoclip.core.tagging import xmp

    monkeypatch.setattr(xmp, "MAX_SIDECAR", 1000)
    side = tmp_path / "x.jpg.xmp"
    side.write_bytes(merge(None, ["a" * 50] * 1, []) + b" " * 2000)
    with pytest.raises(SidecarError, match="larger than"):
        xmp.read_sidecar(side)


def test_deeply_nested_sidecar_is_refused_not_a_crash(tmp_path):
    catalog_path, folder = _library(tmp_path)
    deep = ("<a>" * 100_000) + ("</a>" * 100_000)
    (folder / "d.jpg.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description>'
        + deep + "</rdf:Description></rdf:RDF></x:xmpmeta>")
    report = _run_xmp(catalog_path, timeout=60)
    assert report["written"] == 3
    assert report["failed"] == 1


# -- item 4: control characters -------------------------------------------------------------


def test_a_tag_with_control_characters_still_gives_well_formed_xmp(tmp_path):
    tags = {"a.jpg": "bell\x07tag", "b.jpg": "esc\x1b[31mred", "c.jpg": "cat", "d.jpg": "cat"}
    catalog_path, folder = _library(tmp_path, tags)
    catalog = Catalog(catalog_path)
    writer = SidecarWriter(catalog)
    for _ in writer.run():
        pass
    catalog.close()
    assert writer.report.failed == 0, writer.report.errors
    for name in NAMES:
        ET.parse(folder / f"{name}.xmp")  # well-formed
    assert read_keywords(folder / "a.jpg.xmp")[0] == ["belltag"]
    assert read_keywords(folder / "b.jpg.xmp")[0] == ["esc[31mred"]
    # A second run agrees with the first: nothing rewritten, nothing refused.
    catalog = Catalog(catalog_path)
    writer = SidecarWriter(catalog)
    for _ in writer.run():
        pass
    catalog.close()
    assert writer.report.failed == 0
    assert writer.report.written == 0


def test_a_sidecar_that_is_not_well_formed_is_reported_as_such_not_as_permissions(tmp_path):
    catalog_path, folder = _library(tmp_path)
    (folder / "a.jpg.xmp").write_bytes(b"<x:xmpmeta><bell>\x07</bell>")
    catalog = Catalog(catalog_path)
    writer = SidecarWriter(catalog)
    for _ in writer.run():
        pass
    catalog.close()
    [(_, why)] = writer.report.errors
    assert "not well-formed XMP" in why
    line = writer.failure_line()
    assert "not well-formed XMP" in line
    assert "permission" not in line
    assert "\n" not in line


def test_text_helpers():
    assert printable("bell\x07tag\x1b[2J") == "bell\\x07tag\\x1b[2J"
    assert printable("caf\u00e9 \U0001f431") == "caf\u00e9 \U0001f431"
    assert printable("bad\udcff") == "bad\\udcff"
    assert xml_text("a\x00b\x07c\x1b d\u0085") == "abc d"
    assert has_control("x\x9by")
    assert not has_control("plain text")

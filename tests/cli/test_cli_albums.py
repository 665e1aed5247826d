"""Albums, ratings and favourites from the command line, as a new user meets them: make an
album, fill it, rate, keep a smart album, export it, see the stars in the sidecars, and train
on albums."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import exiv2
import pytest
import skimage
from album_support import COLOURS, colour_albums
from cli_support import run, run_json

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


@pytest.fixture
def indexed(capsys, tmp_path, tiny_clip_dir) -> Path:
    root = tmp_path / "Pictures"
    root.mkdir()
    for name in PHOTOS:
        shutil.copy(SKIMAGE_DATA / name, root / name)
    assert run_json(capsys, "add", str(root), "--model", str(tiny_clip_dir))["indexed"] == 5
    return root.resolve()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def paths(shown: dict) -> list[str]:
    return [p["path"] for p in shown["photos"]]


def test_albums_from_create_to_delete(capsys, indexed):
    photos = [indexed / n for n in PHOTOS]
    assert run_json(capsys, "albums", "list") == {"albums": []}
    made = run_json(capsys, "albums", "create", "Holiday")
    assert made["name"] == "Holiday"
    assert made["smart"] is False
    assert made["photos"] == 0

    added = run_json(capsys, "albums", "add", "Holiday", *map(str, photos[:3]))
    assert added == {"album": "Holiday", "added": 3, "photos": 3}
    assert run_json(capsys, "albums", "add", "holiday", str(photos[0]))["added"] == 0
    shown = run_json(capsys, "albums", "show", "Holiday")
    assert paths(shown) == [str(p) for p in photos[:3]]  # in the order they were added
    assert set(shown["photos"][0]) >= {"path", "rating", "favourite"}

    removed = run_json(capsys, "albums", "remove", "Holiday", str(photos[1]))
    assert removed == {"album": "Holiday", "removed": 1, "photos": 2}
    assert photos[1].exists()

    assert run_json(capsys, "albums", "rename", "Holiday", "Summer")["album"] == "Summer"
    listed = run_json(capsys, "albums", "list")["albums"]
    assert [(a["name"], a["photos"], a["smart"]) for a in listed] == [("Summer", 2, False)]
    code, _, err = run(capsys, "albums", "show", "Holiday")
    assert code == 1
    assert "No album named 'Holiday'" in err

    assert run_json(capsys, "albums", "delete", "Summer") == {"deleted": "Summer"}
    assert run_json(capsys, "albums", "list") == {"albums": []}
    assert all(p.exists() for p in photos)


def test_errors_are_one_line(capsys, indexed, tmp_path):
    run_json(capsys, "albums", "create", "A")
    code, _, err = run(capsys, "albums", "create", "a")
    assert code == 1
    assert "already an album" in err
    code, _, err = run(capsys, "albums", "add", "A", str(tmp_path / "nope.jpg"))
    assert code == 1
    assert "not in the library" in err
    code, _, err = run(capsys, "albums", "create", "S", "--query", "rating:9")
    assert code == 2
    assert "rating:9" in err
    with pytest.raises(SystemExit) as usage:  # argparse: a usage error
        run(capsys, "rate", "7", str(indexed / PHOTOS[0]))
    assert usage.value.code == 2
    assert "must be 0 to 5" in capsys.readouterr().err


def test_rate_fav_and_a_smart_album_that_follows_them(capsys, indexed):
    photos = [str(indexed / n) for n in PHOTOS]
    smart = run_json(capsys, "albums", "create", "Best", "--query", "rating:>=4")
    assert smart["smart"] is True
    assert smart["query"] == "rating:>=4"
    assert paths(run_json(capsys, "albums", "show", "Best")) == []

    assert run_json(capsys, "rate", "4", *photos[:2]) == {"rating": 4, "photos": 2, "changed": 2}
    assert run_json(capsys, "rate", "5", photos[2])["changed"] == 1
    assert set(paths(run_json(capsys, "albums", "show", "Best"))) == set(photos[:3])
    # re-run as the library changes: a photo rated down leaves it
    run_json(capsys, "rate", "1", photos[0])
    assert set(paths(run_json(capsys, "albums", "show", "Best"))) == set(photos[1:3])

    assert run_json(capsys, "fav", photos[3], photos[4]) == {
        "favourite": True, "photos": 2, "changed": 2}
    assert run_json(capsys, "fav", photos[4], "--off")["changed"] == 1
    run_json(capsys, "albums", "create", "Loved", "--query", "fav:yes")
    shown = run_json(capsys, "albums", "show", "Loved")
    assert paths(shown) == [photos[3]]
    assert shown["photos"][0]["favourite"] is True

    found = run_json(capsys, "search", "rating:>=4")["results"]
    assert {r["path"] for r in found} == set(photos[1:3])
    with pytest.raises(exiv2.Exiv2Error):  # nothing written: sidecars are not in sync mode
        exiv2.ImageFactory.open(str(indexed / (PHOTOS[1] + ".xmp")))


def test_export_as_links_or_copies_never_moves_originals(capsys, indexed, tmp_path):
    photos = [indexed / n for n in PHOTOS[:3]]
    before = {p: sha256(p) for p in photos}
    run_json(capsys, "albums", "create", "Trip")
    run_json(capsys, "albums", "add", "Trip", *map(str, photos))
    links = tmp_path / "out" / "links"
    made = run_json(capsys, "albums", "export", "Trip", str(links))
    assert made["mode"] == "link"
    assert made["written"] == 3
    assert made["failed"] == 0
    assert made["folder"] == str(links.resolve())
    for p in photos:
        assert (links / p.name).is_symlink()
        assert os.readlink(links / p.name) == str(p)
    again = run_json(capsys, "albums", "export", "Trip", str(links))
    assert (again["written"], again["unchanged"]) == (0, 3)

    copies = tmp_path / "out" / "copies"
    (copies).mkdir()
    (copies / photos[0].name).write_bytes(b"someone else's file")
    made = run_json(capsys, "albums", "export", "Trip", str(copies), "--copy")
    assert made["mode"] == "copy"
    assert made["written"] == 3
    stem, suffix = os.path.splitext(photos[0].name)
    assert (copies / f"{stem} (2){suffix}").read_bytes() == photos[0].read_bytes()
    assert (copies / photos[0].name).read_bytes() == b"someone else's file"
    assert not any(p.is_symlink() for p in copies.iterdir())
    assert {p: sha256(p) for p in photos} == before  # originals where they were, unchanged


def test_ratings_reach_sidecars_and_come_back_from_other_apps(capsys, indexed):
    photo = indexed / PHOTOS[0]
    run_json(capsys, "rate", "3", str(photo))
    written = run_json(capsys, "xmp")
    assert written["written"] >= 1
    image = exiv2.ImageFactory.open(str(photo) + ".xmp")
    image.readMetadata()
    assert image.xmpData()["Xmp.xmp.Rating"].toString() == "3"

    # With sync on, a rating goes to the sidecar at once.
    run_json(capsys, "xmp", "--sync", "on")
    other = indexed / PHOTOS[1]
    run_json(capsys, "rate", "5", str(other))
    image = exiv2.ImageFactory.open(str(other) + ".xmp")
    image.readMetadata()
    assert image.xmpData()["Xmp.xmp.Rating"].toString() == "5"

    # Another app (here libexiv2, as digiKam) rates a third photo in its own sidecar.
    third = indexed / PHOTOS[2]
    xmp = exiv2.XmpData()
    xmp["Xmp.xmp.Rating"] = "2"
    _, packet = exiv2.XmpParser.encode(xmp)
    Path(str(third) + ".xmp").write_text(packet)
    read = run_json(capsys, "xmp", "--read")
    assert read["changed"] == 1
    assert read["failed"] == 0
    assert read["read"] >= 3
    shown = run_json(capsys, "search", "rating:2")["results"]
    assert [r["path"] for r in shown] == [str(third)]


def test_train_on_albums_each_album_a_label(capsys, tmp_path, tiny_clip_dir):
    folder = colour_albums(tmp_path / "colours")
    run_json(capsys, "add", str(folder), "--model", str(tiny_clip_dir))
    code, _, err = run(capsys, "train", "--album", "red")
    assert code == 1
    assert "No album named 'red'" in err
    for colour in COLOURS:
        run_json(capsys, "albums", "create", colour)
        run_json(capsys, "albums", "add", colour,
                 *map(str, sorted((folder / colour).iterdir())))
    code, _, err = run(capsys, "train", "--album", "red")
    assert code == 1
    assert "at least 2 albums" in err
    data = run_json(capsys, "train", "--album", *COLOURS, "--epochs", "1", "--batch-size", "8",
                    "--name", "from-albums")
    assert data["model"] == "from-albums"
    assert data["before"]["labels"] == 3

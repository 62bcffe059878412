"""Batch inputs: folders, globs and list files streamed as items with stable, distinct names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sam_compose.batch.inputs import InputSource, item_name, suffixes_for
from sam_compose.errors import InputError

IMAGES = suffixes_for("load_image")


def touch(root: Path, *names: str) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_folder_is_walked_sorted_recursively_skipping_hidden_other_suffixes_and_the_output_folder(tmp_path):
    touch(
        tmp_path,
        "b.png",
        "a.JPG",
        "notes.txt",
        ".hidden.png",
        "sub/a.png",
        "sub/deeper/c.png",
        ".git/x.png",
        "out/items/a.png/overlay.png",
    )
    items = list(InputSource(tmp_path, IMAGES, exclude=tmp_path / "out"))
    assert [i.file_name for i in items] == ["a.JPG", "b.png", "sub/a.png", "sub/deeper/c.png"]
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert all(os.path.isabs(i.input) and Path(i.input).is_file() for i in items)


def test_same_file_name_in_different_folders_gets_distinct_stable_names(tmp_path):
    touch(tmp_path, "cats/a.png", "dogs/a.png", "a.png")
    names = [i.name for i in InputSource(tmp_path, IMAGES)]
    assert names == ["a.png", "cats__a.png", "dogs__a.png"]
    assert names == [i.name for i in InputSource(tmp_path, IMAGES)]  # the same on every pass (resume)


def test_ambiguous_names_get_a_hash_of_the_absolute_path():
    a = item_name("x__y/a.png", "/data/x__y/a.png")
    b = item_name("x/y__a.png", "/data/x/y__a.png")
    assert a != b and a.startswith("x__y__a.png-") and b.startswith("x__y__a.png-")
    assert item_name("my photo.png", "/d/my photo.png").startswith("my_photo.png-")
    assert item_name("../up/a.png", "/up/a.png") != item_name("up/a.png", "/d/up/a.png")
    assert not item_name(".a.png", "/d/.a.png").startswith(".")  # never collides with .tmp-* folders
    long = item_name("/".join(["f" * 60] * 4) + ".png", "/long")
    assert len(long) <= 150


def test_glob_matches_per_folder_with_double_star(tmp_path):
    touch(tmp_path, "a/1.png", "a/2.jpg", "b/c/3.png", "top.png")
    pattern = str(tmp_path / "**" / "*.png")
    assert [i.file_name for i in InputSource(pattern, IMAGES)] == ["top.png", "a/1.png", "b/c/3.png"]
    assert [i.file_name for i in InputSource(str(tmp_path / "a" / "*"), IMAGES)] == ["1.png", "2.jpg"]


def test_list_file_resolves_relative_entries_next_to_it_and_keeps_missing_ones(tmp_path, monkeypatch):
    touch(tmp_path, "data/a.png", "data/b.png")
    lst = tmp_path / "list.txt"
    lst.write_text(f"# my images\ndata/a.png\n\n  {tmp_path / 'data' / 'b.png'}  \ndata/missing.png\n")
    monkeypatch.chdir(tmp_path.parent)  # relative entries are found next to the list, not in the cwd
    items = list(InputSource(lst, IMAGES))
    assert [Path(i.input) for i in items] == [
        tmp_path / "data/a.png",
        tmp_path / "data/b.png",
        tmp_path / "data/missing.png",
    ]
    assert items[0].file_name == "data/a.png" and items[1].name.endswith("data__b.png")


def test_a_single_image_file_is_one_input_and_a_missing_path_is_an_error(tmp_path):
    touch(tmp_path, "one.png")
    assert [i.file_name for i in InputSource(tmp_path / "one.png", IMAGES)] == ["one.png"]
    with pytest.raises(InputError, match="does not exist"):
        InputSource(tmp_path / "nope", IMAGES)


def test_a_binary_list_file_is_refused(tmp_path):
    bad = tmp_path / "list.bin"
    bad.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match="not UTF-8"):
        list(InputSource(bad, IMAGES))


def test_counter_counts_a_second_pass(tmp_path):
    touch(tmp_path, "a.png", "b.png", "c/d.png")
    count = InputSource(tmp_path, IMAGES).counter()
    assert count is not None and count(lambda: False) == 3
    assert InputSource(iter([tmp_path / "a.png"]), IMAGES).counter() is None  # a generator cannot be read twice

"""Atomic writes: the target appears whole or not at all, and a failure leaves no temp file."""
import json
import os

import pytest

import fileio


def test_write_json_round_trip_and_no_leftovers(tmp_path):
    path = tmp_path / "a.json"
    fileio.write_json(str(path), {"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    assert os.listdir(tmp_path) == ["a.json"]


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"old": true}')
    with pytest.raises(TypeError):
        fileio.write_json(str(path), {"bad": object()})  # not JSON serialisable, fails mid-write
    assert json.loads(path.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["a.json"]


def test_write_text(tmp_path):
    fileio.write_text(str(tmp_path / "r.md"), "| a |\n")
    assert (tmp_path / "r.md").read_text() == "| a |\n"


def test_atomic_savez_is_reproducible_readable_and_leaves_no_temp(tmp_path):
    import numpy as np

    import safe_npz

    sketches = np.empty(2, object)
    sketches[0], sketches[1] = np.ones((3, 3), np.int16), np.zeros((2, 3), np.int16)
    arrays = {"train": sketches, "plain": np.arange(5)}
    fileio.atomic_savez(str(tmp_path / "a.npz"), arrays)
    fileio.atomic_savez(str(tmp_path / "b.npz"), arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert oct(os.stat(tmp_path / "a.npz").st_mode & 0o777) == "0o644"
    got = safe_npz.read_npz(str(tmp_path / "a.npz"))
    np.testing.assert_array_equal(got["plain"], np.arange(5))
    np.testing.assert_array_equal(got["train"][1], sketches[1])
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]


def test_manifest_tells_ours_from_the_users(tmp_path):
    folder = str(tmp_path)
    assert fileio.foreign_files(str(tmp_path / "missing")) == []
    for name in ("s_0_0.npy", "notes.txt", "ret.json"):
        (tmp_path / name).write_text("x")
    assert fileio.foreign_files(folder) == ["notes.txt", "ret.json", "s_0_0.npy"]
    fileio.write_manifest(folder, ["s_0_0.npy"])
    fileio.add_to_manifest(folder, ["ret.json"])
    assert fileio.read_manifest(folder) == {"s_0_0.npy", "ret.json"}
    assert fileio.foreign_files(folder) == ["notes.txt"]
    # Temporary files of an interrupted atomic write (kill -9) of our files are ours too.
    (tmp_path / ".ret.json.k2x_9.tmp").write_text("x")
    (tmp_path / ".notes.txt.ab12.tmp").write_text("x")
    assert fileio.foreign_files(folder) == [".notes.txt.ab12.tmp", "notes.txt"]
    for name in (".ret.json.k2x_9.tmp", ".notes.txt.ab12.tmp"):
        os.remove(tmp_path / name)
    (tmp_path / fileio.MANIFEST_NAME).write_text("{broken")  # an unreadable manifest claims nothing
    assert fileio.foreign_files(folder) == ["notes.txt", "ret.json", "s_0_0.npy"]
    assert fileio.describe_foreign("d", ["a", "b", "c", "d", "e"]) == \
        "d: holds files sketchgloc did not write (a, b, c and 2 more)"


def test_writable_dir_problem(tmp_path):
    (tmp_path / "f").write_text("x")
    assert fileio.writable_dir_problem(str(tmp_path / "new" / "sub")) is None
    assert os.path.isdir(tmp_path / "new" / "sub") and not os.listdir(tmp_path / "new" / "sub")
    assert fileio.writable_dir_problem(str(tmp_path / "f")) == f"{tmp_path / 'f'}: is a file, not a folder"
    assert "cannot create the folder" in fileio.writable_dir_problem(str(tmp_path / "f" / "sub"))


def test_manifest_problem_and_remove_own_file(tmp_path):
    folder = str(tmp_path / "f")
    os.makedirs(folder)
    (tmp_path / "f" / "a.png").write_text("x")
    os.mkdir(tmp_path / "f" / "sub")
    fileio.write_manifest(folder, ["a.png", "sub", "missing.png"])
    assert fileio.manifest_problem(folder) is None  # evaluate.py's folder lists its setting folders
    assert "lists 'sub', which is a folder" in fileio.manifest_problem(folder, files_only=True)
    for bad in ("../a.png", "/etc/passwd", "sub/x", "..", "a\\b"):
        fileio.write_manifest(folder, ["a.png", bad])
        assert f"lists {bad!r}, which is not a file name inside" in fileio.manifest_problem(folder)
        assert f"lists {bad!r}" in fileio.output_folder_problem(folder, overwrite=True)
    os.symlink(tmp_path / "f" / "a.png", tmp_path / "f" / "link.png")
    assert fileio.entry_kind(str(tmp_path / "f" / "link.png")) == "a symbolic link"
    with pytest.raises(ValueError, match="link.png: is a symbolic link"):
        fileio.remove_own_file(str(tmp_path / "f" / "link.png"))
    with pytest.raises(ValueError, match="sub: is a folder"):
        fileio.remove_own_file(str(tmp_path / "f" / "sub"))
    assert fileio.remove_own_file(str(tmp_path / "f" / "a.png")) is True
    assert fileio.remove_own_file(str(tmp_path / "f" / "a.png")) is False
    assert os.path.islink(tmp_path / "f" / "link.png")  # the link itself was never removed

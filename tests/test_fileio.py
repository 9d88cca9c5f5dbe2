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

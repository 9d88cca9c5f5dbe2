"""sample_files.py: the names of a sample folder's files, planned and found."""
import os

import sample_files


def test_planned_files_are_every_file_of_a_run():
    names = sample_files.planned_files([2, 1])
    assert names == {"sample_meta.json", "overview_0.png", "overview_1.png",
                     "0_0.svg", "0_0.png", "s_0_0.npy", "code_0_0.npy",
                     "0_1.svg", "0_1.png", "s_0_1.npy", "code_0_1.npy",
                     "1_0.svg", "1_0.png", "s_1_0.npy", "code_1_0.npy"}
    assert all(sample_files.OUTPUT_RE.match(name) for name in names)
    for name in (sample_files.RET_NAME, sample_files.REC_NAME):
        assert sample_files.OUTPUT_RE.match(name)
    for name in ("notes.txt", "s_a_1.npy", "overview.png", "results.json", ".s_0_0.npy.x.tmp"):
        assert not sample_files.OUTPUT_RE.match(name)


def test_sequences_and_codes_are_found_by_index(tmp_path):
    for name in ("s_0_1.npy", "s_10_2.npy", "code_0_1.npy", "s_x_1.npy", "code_0_1.npz", "0_1.png"):
        (tmp_path / name).write_text("")
    assert sample_files.seq_files(str(tmp_path)) == {(0, 1): str(tmp_path / "s_0_1.npy"),
                                                     (10, 2): str(tmp_path / "s_10_2.npy")}
    assert sample_files.code_files(str(tmp_path)) == {(0, 1): str(tmp_path / "code_0_1.npy")}
    assert sample_files.seq_files(str(tmp_path / "missing")) == {}
    folder = tmp_path / "a[1]"  # glob characters in the folder name are literal
    folder.mkdir()
    (folder / "s_0_0.npy").write_text("")
    assert list(sample_files.seq_files(str(folder))) == [(0, 0)]


def test_setting_folders_name_the_re_scale():
    assert sample_files.setting_folder("out", 0.0) == os.path.join("out", "re_scale_0")
    assert sample_files.setting_folder("out", 0.3) == os.path.join("out", "re_scale_0.3")

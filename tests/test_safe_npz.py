"""safe_npz: safe .npz loading (no pickle code runs), checks, counted clipping, fuzzed inputs."""
import io
import json
import os
import time
import warnings
import zipfile

import numpy as np
import pytest

import convert_quickdraw as cq
import safe_npz
import utils
from conftest import obj_array, sketch, write_npz
from safe_npz import DataError, DataWarning


class RunsCode:
    """Pickles as a call of os.system: what a crafted sketch file would hide in its object array."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious_npz(path, marker):
    """A sketch-rnn .npz whose train split holds a sketch and an object that runs `touch marker`."""
    train = obj_array([sketch(5), sketch(6)])
    train[1] = RunsCode(f"touch {marker}")
    write_npz(path, train=train)


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "MARKER"
    malicious_npz(tmp_path / "cat.npz", marker)
    # The file really would run the command through np.load(allow_pickle=True).
    with np.load(tmp_path / "cat.npz", allow_pickle=True) as data:
        data["train"]
    assert marker.exists()
    marker.unlink()

    with pytest.raises(DataError) as excinfo:
        utils.load_dataset(str(tmp_path), ["cat"])
    message = str(excinfo.value)
    assert "\n" not in message
    assert "cat.npz, split 'train'" in message and "system" in message and "not allowed" in message
    assert not marker.exists()


def test_a_pickled_global_of_any_module_is_refused(tmp_path):
    # An innocent-looking global (builtins.list) is refused as well: only numpy's array constructors pass.
    import pickle

    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    pickle.dump(np.array([None, list], object)[1:], member, protocol=3)
    with zipfile.ZipFile(tmp_path / "cat.npz", "w") as zf:
        for split in ("train", "valid", "test"):
            zf.writestr(split + ".npy", member.getvalue())
    with pytest.raises(DataError, match="builtins.list, which is not allowed"):
        safe_npz.read_npz(str(tmp_path / "cat.npz"))


def test_real_files_load_as_np_load_reads_them(shared_data):
    for name in ("aaron_sheep", "pig"):  # a Python-2 pickle (latin1) and a numpy-2 one
        path = os.path.join(shared_data, name + ".npz")
        ours = safe_npz.read_npz(path)
        with np.load(path, allow_pickle=True, encoding="latin1") as theirs:
            assert sorted(ours) == sorted(theirs.files)
            for key in theirs.files:
                assert type(ours[key]) is np.ndarray and ours[key].shape == theirs[key].shape
                for a, b in zip(ours[key], theirs[key]):
                    assert type(a) is np.ndarray and a.dtype == b.dtype
                    np.testing.assert_array_equal(a, b)


def test_check_file_counts_usable_sketches_and_refuses_bad_ones(tmp_path):
    good = write_npz(tmp_path / "good.npz")
    assert safe_npz.check_file(good) == 6 + 2 + 1
    bad = write_npz(tmp_path / "bad.npz", valid=obj_array([sketch(5), np.zeros((0, 3))]))
    with pytest.raises(DataError, match="split 'valid', sketch 1: empty sketch"):
        safe_npz.check_file(bad)


def test_plain_arrays_and_compressed_archives_load(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.int32).reshape(3, 4), "b": np.asfortranarray(np.eye(3)),
              "train": obj_array([sketch(4)])}
    np.savez_compressed(tmp_path / "x.npz", **arrays)
    got = safe_npz.read_npz(str(tmp_path / "x.npz"))
    np.testing.assert_array_equal(got["a"], arrays["a"])
    np.testing.assert_array_equal(got["b"], arrays["b"])
    np.testing.assert_array_equal(got["train"][0], arrays["train"][0])


def test_an_array_state_larger_than_its_data_is_refused_before_allocation(tmp_path):
    # A pickled object array claiming 10**10 elements: numpy would allocate 80 GB before noticing.
    import pickle

    arr = obj_array([sketch(3)])
    data = pickle.dumps(arr, protocol=3)
    # The state tuple starts with MARK, version 1, shape (1,): put 10**10 (LONG1) in the shape.
    head = b"(K\x01K\x01\x85"
    assert data.count(head) == 1
    crafted = data.replace(head, b"(K\x01\x8a\x05" + (10 ** 10).to_bytes(5, "little") + b"\x85")
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    member.write(crafted)
    with zipfile.ZipFile(tmp_path / "cat.npz", "w") as zf:
        zf.writestr("train.npy", member.getvalue())
    start = time.perf_counter()
    with pytest.raises(DataError, match="does not match its shape"):
        safe_npz.read_npz(str(tmp_path / "cat.npz"))
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------ clipping

def test_clipped_offsets_are_counted_in_a_warning(tmp_path):
    big16 = sketch(6, 1)
    big16[2, 0] = 30000
    big32 = sketch(7, 2).astype(np.int32)
    big32[1, 1] = -100000
    big32[4, 0] = 5000
    train = obj_array([sketch(8, 3), big16, sketch(9, 4), big32])
    write_npz(tmp_path / "cat.npz", train=train)
    with pytest.warns(DataWarning) as record:
        data = utils.load_dataset(str(tmp_path), ["cat"])
    messages = [str(w.message) for w in record if "clipped" in str(w.message)]
    assert len(messages) == 1
    assert "cat.npz, split 'train'" in messages[0]
    assert "clipped 3 offsets in 2 sketches to +-1000" in messages[0]
    assert "largest 100000" in messages[0] and "sketches 1, 3" in messages[0]
    # The clip itself stays (as in the original): no offset beyond 1000 / scale_factor.
    biggest = max(np.abs(s[:, :2]).max() for s in data.train.strokes) * data.scale_factor
    assert biggest == pytest.approx(1000.0)


def test_no_clip_warning_for_ordinary_data(tmp_path):
    write_npz(tmp_path / "cat.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        utils.load_dataset(str(tmp_path), ["cat"])


# ---------------------------------------------------------------------- fuzz

FUZZ_CASES = 500  # per format: 1,000 corrupted files in all


def _valid_npz_bytes(rng, compressed):
    """A small valid sketch-rnn archive, in memory."""
    splits = {k: obj_array([sketch(int(rng.integers(2, 12)), int(rng.integers(1000)))
                            for _ in range(int(rng.integers(1, 4)))]) for k in safe_npz.SPLITS}
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **splits)
    return buf.getvalue()


def _odd_split(rng):
    """A split of a wrong or extreme kind."""
    pick = int(rng.integers(7))
    if pick == 0:
        return rng.normal(size=(3, 3)).astype(np.float32)  # not an object array
    if pick == 1:
        return np.array(["a", "bc"])
    if pick == 2:
        return obj_array([np.array([[1e300, -1e300, 0], [np.inf, 1, 1]])])
    if pick == 3:
        return obj_array([np.full((4, 3), 2 ** 31 - 1, np.int64)])
    if pick == 4:
        return obj_array([np.zeros((2, 3), np.complex64)])
    if pick == 5:
        arr = np.empty(2, object)
        arr[0], arr[1] = [[1, 2, 0], [3, 4, 1]], {"x": 1}
        return arr
    return obj_array([np.ones((3, 3, 1), np.int16)])


def _corrupt(data, rng):
    """Bit flips, a truncation, or both."""
    data = bytearray(data)
    kind = int(rng.integers(3))
    if kind in (0, 2):
        for pos in rng.integers(0, len(data), int(rng.integers(1, 20))):
            data[pos] ^= 1 << int(rng.integers(8))
    if kind in (1, 2):
        data = data[:int(rng.integers(0, len(data)))]
    return bytes(data)


def _fuzzed_npz(rng):
    if rng.random() < 0.25:
        buf = io.BytesIO()
        splits = {k: obj_array([sketch(5)]) for k in safe_npz.SPLITS}
        splits[safe_npz.SPLITS[int(rng.integers(3))]] = _odd_split(rng)
        np.savez(buf, **splits)
        return buf.getvalue() if rng.random() < 0.5 else _corrupt(buf.getvalue(), rng)
    return _corrupt(_valid_npz_bytes(rng, bool(rng.random() < 0.5)), rng)


def _drawing(rng):
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(1, 8))
        stroke = [rng.integers(0, 256, n).tolist(), rng.integers(0, 256, n).tolist()]
        if rng.random() < 0.3:
            stroke.append(sorted(rng.integers(0, 5000, n).tolist()))
        strokes.append(stroke)
    return strokes


def _odd_value(rng):
    return [1e308, -1e300, 10 ** 30, "12", None, [1, [2]], True, float("nan"), 2 ** 63, -0.0][
        int(rng.integers(10))]


def _fuzzed_ndjson(rng):
    lines = []
    for _ in range(int(rng.integers(0, 12))):
        record = {"word": "cat", "recognized": bool(rng.random() < 0.8), "drawing": _drawing(rng)}
        if rng.random() < 0.3:  # a huge, non-numeric or mistyped value somewhere in the drawing
            stroke = record["drawing"][int(rng.integers(len(record["drawing"])))]
            stroke[int(rng.integers(2))][0] = _odd_value(rng)
        if rng.random() < 0.1:
            record["drawing"] = _odd_value(rng)
        lines.append(json.dumps(record))
    data = ("\n".join(lines) + "\n").encode()
    return _corrupt(data, rng) if rng.random() < 0.7 else data


def test_fuzzed_files_raise_only_user_errors(tmp_path):
    """1,000 corrupted .npz and .ndjson files: loaders and converter raise DataError / ConvertError only."""
    rng = np.random.default_rng(12)
    data_dir, out_dir = tmp_path / "data", tmp_path / "out"
    data_dir.mkdir()
    start, outcomes = time.perf_counter(), {"npz": set(), "ndjson": set()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropped-sketch and clip warnings, numpy casts
        for case in range(FUZZ_CASES):
            (data_dir / "cat.npz").write_bytes(_fuzzed_npz(rng))
            try:
                utils.load_dataset(str(data_dir), ["cat"])
                outcomes["npz"].add("loaded")
            except DataError as err:
                assert "\n" not in str(err) and "cat.npz" in str(err)
                outcomes["npz"].add("DataError")

            source = tmp_path / "full_simplified_cat.ndjson"
            source.write_bytes(_fuzzed_ndjson(rng))
            try:
                path, sizes, counts = cq.convert([str(source)], str(out_dir), options=cq.Options(),
                                                 valid=0.2, test=0.2, progress=False, overwrite=True)
                assert counts.read == counts.converted + counts.too_long + counts.too_short \
                    + counts.not_recognized + counts.bad_total
                outcomes["ndjson"].add("converted")
                safe_npz.read_npz(path)  # what the converter wrote is readable by the safe loader
            except cq.ConvertError as err:
                assert "\n" not in str(err)
                outcomes["ndjson"].add("ConvertError")
    # Both outcomes happen, so the corruption is neither always fatal nor always harmless.
    assert outcomes == {"npz": {"loaded", "DataError"}, "ndjson": {"converted", "ConvertError"}}
    assert time.perf_counter() - start < 60


# ------------------------------------------------------------------ bombs (issue 21)
# Every bomb here is small on disk; its size is announced in the zip directory or the .npy
# header, and the limits are checked there, before anything is decompressed or allocated.

def _npy(header_shape, descr, payload=b""):
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": descr, "fortran_order": False,
                                                  "shape": header_shape})
    return member.getvalue() + payload


def _zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def test_a_split_that_is_not_an_object_array_is_refused_from_its_header(tmp_path):
    # train.npy announces 3.2 GB of float64; only its header is there: the check must come first.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_npz(data_dir / "cat.npz")  # valid and test splits of a real file
    splits = {name: zipfile.ZipFile(data_dir / "cat.npz").read(name) for name in ("valid.npy", "test.npy")}
    _zip(data_dir / "cat.npz", {"train.npy": _npy((400_000_000,), "<f8", b"\0" * 16), **splits})
    with pytest.raises(DataError) as err:
        utils.load_dataset(str(data_dir), ["cat"])  # what train.py --data_dir calls
    assert str(err.value) == (f"{data_dir / 'cat.npz'}, split 'train': expected a 1-D object array of "
                              "[N,3] sketches, got float64 array of shape (400000000,)")


def _lying_directory(path, member, size):
    """Patch the zip directory so that `member` announces `size` decompressed bytes."""
    data = bytearray(open(path, "rb").read())
    pos = data.index(b"PK\x01\x02")  # central directory entries; the name starts at byte 46
    while data[pos + 46:pos + 46 + len(member)] != member.encode():
        pos = data.index(b"PK\x01\x02", pos + 4)
    data[pos + 24:pos + 28] = size.to_bytes(4, "little")
    open(path, "wb").write(bytes(data))


def test_a_zip_bomb_is_refused_from_the_zip_directory_with_the_default_limit(tmp_path):
    path = write_npz(tmp_path / "cat.npz")
    members = {name: zipfile.ZipFile(path).read(name) for name in ("train.npy", "valid.npy", "test.npy")}
    _zip(path, members)
    _lying_directory(path, "valid.npy", 3_000_000_000)  # a 2.9 MB file that expands to 3 GB
    assert zipfile.ZipFile(path).getinfo("valid.npy").file_size == 3_000_000_000
    start = time.perf_counter()
    for read, where in ((lambda: safe_npz.read_splits(path, None), "split 'valid'"),
                        (lambda: safe_npz.read_npz(path), "key 'valid'")):
        with pytest.raises(DataError) as err:
            read()
        assert str(err.value).startswith(f"{path}, {where}: expands to 3,000,00")
        assert f"more than the limit of {safe_npz.MAX_BYTES:,}" in str(err.value)
        assert "refused before decompressing" in str(err.value)
    assert time.perf_counter() - start < 1.0


def test_a_sketch_that_expands_past_the_byte_limit_is_refused(tmp_path):
    # One sketch of 1M x 3 int16 zeros: 6 MB inside, a few kB on disk (the 200M x 3, scaled).
    path = tmp_path / "cat.npz"
    np.savez_compressed(path, train=obj_array([np.zeros((1_000_000, 3), np.int16)]),
                        valid=obj_array([sketch(5)]), test=obj_array([sketch(5)]))
    assert os.path.getsize(path) < 50_000
    with pytest.raises(DataError, match=r"cat.npz, split 'train': expands to 6,000,\d+ bytes .* "
                                        r"limit of 1,000,000 "):
        safe_npz.read_splits(str(path), None, max_bytes=1_000_000)
    assert len(safe_npz.read_splits(str(path), None)["train"][0]) == 1_000_000  # within the default


def test_one_sketch_referenced_many_times_counts_every_time(tmp_path):
    # An object array of 300 references to one 10,000-point sketch: 60 kB pickled, 9M values once
    # the loader copies every one (a pickle bomb). The value budget counts each reference.
    shared = np.zeros((10_000, 3), np.int16)
    train = np.empty(300, object)
    for i in range(300):
        train[i] = shared
    path = tmp_path / "cat.npz"
    np.savez_compressed(path, train=train, valid=obj_array([sketch(5)]), test=obj_array([sketch(5)]))
    assert os.path.getsize(path) < 50_000
    with pytest.raises(DataError, match=r"cat.npz, split 'train': holds more than 1,000,000 array values"):
        safe_npz.read_splits(str(path), None, max_values=1_000_000)
    with pytest.raises(DataError, match=r"key 'train': holds more than 1,000,000 array values"):
        safe_npz.read_npz(str(path), max_values=1_000_000)
    assert len(safe_npz.read_splits(str(path), None, max_values=10_000_000)["train"]) == 300
    # Nested lists referenced many times are counted the same way.
    rows = [[0, 0, 1]] * 10_000
    listed = np.empty(300, object)
    for i in range(300):
        listed[i] = rows
    np.savez_compressed(path, train=listed, valid=obj_array([sketch(5)]), test=obj_array([sketch(5)]))
    with pytest.raises(DataError, match="holds more than 1,000,000 array values"):
        safe_npz.read_splits(str(path), None, max_values=1_000_000)


def test_a_plain_array_past_the_value_limit_is_refused_before_it_is_read(tmp_path):
    path = _zip(tmp_path / "x.npz", {"big.npy": _npy((2_000_000,), "|u1", bytes(2_000_000))})
    with pytest.raises(DataError, match=r"x.npz, key 'big': holds more than 1,000,000 array values"):
        safe_npz.read_npz(path, max_values=1_000_000)
    assert safe_npz.read_npz(path)["big"].shape == (2_000_000,)

"""Files from elsewhere never run code and never allocate what they merely claim (issue 16).

For every door a crafted file is planted: one that would create a marker file if it were
unpickled, or one whose metadata claims far more data than it holds. The CLI command exits 2
with one line, the marker stays absent and nothing is written; the benign version of the same
input still works, so a loader that refused everything would fail here. Checkpoints (evaluate,
resume) have the same test in test_train_checkpoint.py.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_helpers import assert_one_line_error
from data_fixtures import make_cifar10

from protogen.errors import FileFormatError, ResourceError
from protogen.io import FORMAT, load_prototypes, read_npy_header, save_prototypes
from protogen.semantics import load_word_vectors

HUGE = 10**11                       # rows: 6.4 TB at 16 float32 columns, beyond any machine
GUARD = "more than this machine"    # the memory guard's words (not numpy's MemoryError)
NAMES = ["cat", "dog", "truck", "crane"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class _Plant:
    """Unpickling this creates ``marker``: the stand-in for code a crafted pickle would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _refused(result, root: Path, marker: Path, before: set[str], *fragments) -> None:
    """One line, exit 2, no marker, and nothing new under ``root``."""
    assert_one_line_error(result, *fragments)
    assert not marker.exists()
    assert _listing(root) == before


def _benign_kv(words, dim: int = 6, seed: int = 0):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(dim, count=0, dtype=np.float32)
    kv.add_vectors(words, np.random.default_rng(seed).normal(size=(len(words), dim))
                   .astype(np.float32))
    return kv


# ------------------------------------------------------------------ word vectors (pickles)
SOLVE = ("solve", "--names", "names.txt", "--dim", 3, "--method", "gradient", "-o",
         "iterations=60", "-o", "restarts=1", "-o", "polish_iterations=5", "--quiet", "--json",
         "--out", "p.h5")


def test_solve_refuses_gensim_pickles_without_allow_pickle(run, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n")
    (tmp_path / "crafted.kv").write_bytes(pickle.dumps(_Plant(marker)))
    (tmp_path / "crafted.bin").write_bytes(pickle.dumps(_Plant(marker)))  # misnamed pickle
    kv = _benign_kv(NAMES)
    kv.save(str(tmp_path / "benign.kv"))
    kv.save_word2vec_format(str(tmp_path / "benign.bin"), binary=True)
    before = _listing(tmp_path)
    for name in ("crafted.kv", "benign.kv"):
        _refused(run(*SOLVE, "--word-vectors", name), tmp_path, marker, before,
                 "--allow-pickle", "word2vec .bin/.txt", "GloVe .txt", "glove-6b-50d")
    # A pickle named .bin is read as word2vec binary, never unpickled: a format error.
    _refused(run(*SOLVE, "--word-vectors", "crafted.bin"), tmp_path, marker, before,
             "cannot read as word2vec-binary")
    # Safe formats need no flag; gensim's native file loads with it, to the same vectors.
    for name, extra in (("benign.bin", ()), ("benign.kv", ("--allow-pickle",))):
        r = run(*SOLVE, "--word-vectors", name, *extra, "--force")
        assert r.exit_code == 0, r.output
        saved = load_prototypes(tmp_path / "p.h5")
        norms = np.linalg.norm(kv.vectors, axis=1, keepdims=True)
        np.testing.assert_allclose(saved.datasets["class_vectors"], kv.vectors / norms,
                                   rtol=1e-6)
        assert name in saved.attrs["semantic_source"]
    # The flag really unpickles: the crafted file is a real door (and then not word vectors).
    r = run(*SOLVE, "--word-vectors", "crafted.kv", "--allow-pickle", "--force")
    assert r.exit_code == 2 and marker.exists()


def test_train_refuses_word_vector_pickles_without_allow_pickle(run, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "crafted.kv").write_bytes(pickle.dumps(_Plant(marker)))
    kv = _benign_kv(DIGITS, dim=12)
    kv.save(str(tmp_path / "benign.kv"))
    train = ("train", "--dataset", "digits", "--limit-train", 60, "--limit-test", 20,
             "--epochs", 1, "--quiet", "--json", "--out", "run")
    before = _listing(tmp_path)
    for name in ("crafted.kv", "benign.kv"):
        _refused(run(*train, "--prototypes", f"word-vectors:{name}"), tmp_path, marker, before,
                 "--allow-pickle", "word2vec .bin/.txt")
    r = run(*train, "--prototypes", "word-vectors:benign.kv", "--allow-pickle")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["epoch"] == 1
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "allow_pickle" not in json.dumps(config)   # a per-invocation permission only
    assert not marker.exists()
    # The permission ends with the command: the in-process cache does not serve the file later.
    with pytest.raises(Exception, match="--allow-pickle"):
        load_word_vectors(str(tmp_path / "benign.kv"))


# ------------------------------------------------------------------ CIFAR batches (pickles)
def test_train_refuses_a_crafted_cifar_batch(run, tmp_path):
    marker = tmp_path / "ran"
    crafted = make_cifar10(tmp_path / "crafted")
    (crafted / "data_batch_3").write_bytes(pickle.dumps({b"data": _Plant(marker)}, protocol=2))
    benign = make_cifar10(tmp_path / "benign")
    train = ("train", "--prototypes", "onehot", "--limit-test", 10, "--epochs", 1, "--quiet", "--json", "--out", "run")
    before = _listing(tmp_path)
    _refused(run(*train, "--dataset", f"cifar10:{crafted}"), tmp_path, marker, before,
             "data_batch_3")
    r = run(*train, "--dataset", f"cifar10:{benign}")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["epoch"] == 1


# ------------------------------------------------------------------ oversized prototype files
def _prototype_file(path: Path, shape, dtype="f4", **attrs) -> Path:
    """A file in the prototype layout whose 'prototypes' dataset declares ``shape``; chunked and
    never written, so a claim of 10^11 rows costs a few kilobytes on disk."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": FORMAT, "format_version": 1, "num_classes": shape[0],
                        "dim": shape[-1], **attrs})
        f.create_dataset("prototypes", shape=shape, dtype=dtype,
                         chunks=tuple(min(s, 1024) for s in shape))
    return path


def test_oversized_prototype_file_is_refused_by_info_and_train(run, tmp_path):
    big = _prototype_file(tmp_path / "big.h5", (HUGE, 16))
    assert big.stat().st_size < 100_000
    save_prototypes(tmp_path / "good.h5", np.eye(10))
    marker = tmp_path / "never"
    before = _listing(tmp_path)
    _refused(run("info", "big.h5"), tmp_path, marker, before, GUARD, "big.h5")
    _refused(run("train", "--prototypes", "big.h5", "--out", "run", "--quiet"), tmp_path,
             marker, before, GUARD)
    with pytest.raises(ResourceError, match=GUARD):
        load_prototypes(big)
    r = run("info", "good.h5", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["num_classes"] == 10
    r = run("train", "--prototypes", "good.h5", "--limit-train", 60, "--limit-test", 20,
            "--epochs", 1, "--out", "run", "--quiet", "--json")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("case, fragment", [
    ("3-d", "2-D"), ("int", "floating point"), ("num_classes", "num_classes = 11"),
    ("dim", "dim = 3"), ("names", "'class_names' must hold 10"),
    ("class_vectors", "'class_vectors' must have 10 rows"), ("null", "null dataspace"),
    ("extra", GUARD)])
def test_prototype_file_metadata_is_checked_before_reading(tmp_path, monkeypatch, case, fragment):
    path = tmp_path / "p.h5"
    if case == "3-d":
        _prototype_file(path, (10, 4, 2))
    elif case == "int":
        _prototype_file(path, (10, 4), dtype="i4")
    elif case in ("num_classes", "dim"):
        _prototype_file(path, (10, 4), **{case: {"num_classes": 11, "dim": 3}[case]})
    else:
        save_prototypes(path, np.eye(10))
        with h5py.File(path, "a") as f:
            if case == "names":
                f["class_names"] = np.array([b"a"] * 9)
            elif case == "class_vectors":
                f["class_vectors"] = np.zeros((9, 5))
            elif case == "null":
                f["nothing"] = h5py.Empty("f8")
            else:  # an extra dataset claiming 10^11 rows
                f.create_dataset("extra", shape=(HUGE, 16), dtype="f4", chunks=(1024, 16))
    # Any read of an array now would be a failure of the check, not a way around it.
    monkeypatch.setattr(h5py.Dataset, "__getitem__", _no_reading)
    error = ResourceError if case == "extra" else FileFormatError
    with pytest.raises(error, match=fragment):
        load_prototypes(path)


def _no_reading(*args):
    raise AssertionError("an array was read before the metadata was checked")


# ------------------------------------------------------------------ npz / HDF5 data files
def _lying_npy(shape, dtype="<f4", payload: bytes = b"\0" * 64) -> bytes:
    """A .npy whose header declares ``shape`` but which holds only ``payload``."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + payload


def _npy(arr) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_train_refuses_npz_and_hdf5_data_claiming_huge_arrays(run, tmp_path):
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
        z.writestr("x.npy", _lying_npy((HUGE, 16)))
        z.writestr("y.npy", _npy(np.zeros(4, np.int64)))
    with h5py.File(tmp_path / "big.h5", "w") as f:
        f.create_dataset("x", shape=(HUGE, 16), dtype="f4", chunks=(1024, 16))
        f.create_dataset("y", shape=(HUGE,), dtype="i8", chunks=(1024,))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype(np.float32), np.arange(40) % 4
    np.savez(tmp_path / "good.npz", x=x, y=y)
    with h5py.File(tmp_path / "good.h5", "w") as f:
        f["x"], f["y"] = x, y
    marker = tmp_path / "never"
    train = ("train", "--prototypes", "onehot", "--epochs", 1, "--quiet", "--json", "--out", "run")
    before = _listing(tmp_path)
    _refused(run(*train, "--dataset", "npz:big.npz"), tmp_path, marker, before,
             "x.npy", "declares shape", "but only 64 follow")
    _refused(run(*train, "--dataset", "hdf5:big.h5"), tmp_path, marker, before, GUARD)
    for spec in ("npz:good.npz", "hdf5:good.h5"):
        r = run(*train, "--dataset", spec, "--force")
        assert r.exit_code == 0, r.output


def test_data_memory_guard_and_object_arrays(run, tmp_path, monkeypatch):
    """An honest file larger than the guard allows is refused before loading; a pickled
    object array inside an npz is refused without unpickling."""
    from protogen.train.data import load_dataset

    marker = tmp_path / "ran"
    x = np.zeros((2000, 64), np.float32)           # 512 KB, plus its float32 copy
    np.savez(tmp_path / "honest.npz", x=x, y=np.arange(2000) % 4)
    np.savez(tmp_path / "objects.npz", x=np.array([_Plant(marker)] * 4, dtype=object),
             y=np.arange(4))
    monkeypatch.setattr("protogen.memory.available_memory_bytes", lambda: 1_000_000)
    with pytest.raises(ResourceError, match=GUARD):
        load_dataset(f"npz:{tmp_path / 'honest.npz'}")
    before = _listing(tmp_path)
    _refused(run("train", "--dataset", "npz:objects.npz", "--out", "run", "--quiet"),
             tmp_path, marker, before, "Python objects")
    monkeypatch.setattr("protogen.memory.available_memory_bytes", lambda: 10**12)
    assert len(load_dataset(f"npz:{tmp_path / 'honest.npz'}").train) == 1500


# ------------------------------------------------------------------ protogen import (.npy)
def test_import_refuses_crafted_and_oversized_npy(run, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    np.save(tmp_path / "objects.npy", np.array([[_Plant(marker)] * 2] * 2, dtype=object),
            allow_pickle=True)
    (tmp_path / "big.npy").write_bytes(_lying_npy((HUGE, 16)))
    good = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))[0]
    np.save(tmp_path / "good.npy", good)
    before = _listing(tmp_path)
    _refused(run("import", "objects.npy", "--out", "p.h5"), tmp_path, marker, before,
             "Python objects")
    _refused(run("import", "big.npy", "--out", "p.h5"), tmp_path, marker, before,
             "declares shape", "but only 64 follow")
    with monkeypatch.context() as patch:
        patch.setattr("protogen.memory.available_memory_bytes", lambda: 400)
        _refused(run("import", "good.npy", "--out", "p.h5"), tmp_path, marker, before, GUARD)
    r = run("import", "good.npy", "--out", "p.h5")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(load_prototypes(tmp_path / "p.h5").prototypes, good)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_npy_header_reader_matches_numpy(tmp_path, version):
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    path = tmp_path / "a.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, arr, version=version)
    with open(path, "rb") as fh:
        shape, dtype = read_npy_header(fh, path, available=path.stat().st_size)
        assert fh.tell() + arr.nbytes == path.stat().st_size
    assert shape == arr.shape and dtype == arr.dtype
    path.write_bytes(path.read_bytes()[:-1])     # one byte short of what the header declares
    with open(path, "rb") as fh, pytest.raises(FileFormatError, match="only 47 follow"):
        read_npy_header(fh, path, available=path.stat().st_size)


def test_hdf5_data_with_a_null_dataset_is_one_line(tmp_path):
    from protogen.errors import InputError
    from protogen.train.data import load_dataset

    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"], f["y"] = np.zeros((8, 3)), np.arange(8) % 2
    assert len(load_dataset(f"hdf5:{tmp_path / 'd.h5'}").train) == 6
    with h5py.File(tmp_path / "d.h5", "a") as f:
        f["class_names"] = h5py.Empty("f8")
    with pytest.raises(InputError, match="null dataspace"):
        load_dataset(f"hdf5:{tmp_path / 'd.h5'}")

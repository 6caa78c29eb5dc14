"""Tiny data sets in the exact on-disk layouts of CIFAR (python pickles) and idx-ubyte."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

from protogen.train.formats import write_idx_array

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


def _dump(path: Path, obj) -> None:
    # Protocol 2 with bytes keys, as a Python 3 re-save of the official files would have.
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _images(rng, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def make_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` with 5 train batches, a test batch and batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        _dump(folder / f"data_batch_{i}", {b"batch_label": b"training batch",
                                           b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                                           b"data": _images(rng, per_batch),
                                           b"filenames": [b"x.png"] * per_batch})
    _dump(folder / "test_batch", {b"labels": list(range(10)), b"data": _images(rng, 10)})
    _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES],
                                    b"num_vis": 3072})
    return folder


def make_cifar100(root: Path, n_train: int = 40, seed: int = 0, names=None, groups=None):
    """``root/cifar-100-python`` with train, test and meta; 100 fine classes in 20 groups of
    5 (fine class f belongs to group f // 5 unless ``groups`` says otherwise)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    names = names or [f"class{i}" for i in range(100)]
    groups = groups or [f"group{g}" for g in range(20)]

    def part(n, fine):
        return {"data": _images(rng, n), "fine_labels": fine,
                "coarse_labels": [f // 5 for f in fine], "filenames": ["x.png"] * n}

    _dump(folder / "train", part(n_train + 100, list(range(100)) +
                                 [int(v) for v in rng.integers(0, 100, n_train)]))
    _dump(folder / "test", part(20, [int(v) for v in rng.integers(0, 100, 20)]))
    _dump(folder / "meta", {"fine_label_names": names, "coarse_label_names": groups})
    return folder


def make_tar(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def make_idx(folder: Path, n_train: int = 30, n_test: int = 10, size: int = 28,
             gz: bool = True, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx_array(folder / f"{prefix}-images-idx3-ubyte{ext}",
                        rng.integers(0, 256, size=(n, size, size), dtype=np.uint8))
        write_idx_array(folder / f"{prefix}-labels-idx1-ubyte{ext}",
                        np.arange(n, dtype=np.uint8) % 10)
    return folder

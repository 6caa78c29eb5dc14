"""Symmetric starts: the rotation groups, their orbits, and symmetry kept by the anneal."""

import math

import numpy as np
import pytest
import torch

from protogen.solvers.gradient import _anneal, _threads_for
from protogen.solvers.symmetric_starts import (_axial_groups, _groups, antipodal_start,
                                               every_group_starts, orbit_decompositions,
                                               point_group_start)


def _same_set(a, b):
    key = lambda x: np.round(x, 8).tolist()  # noqa: E731
    return sorted(key(a)) == sorted(key(b))


def test_groups_are_the_chiral_polyhedral_groups():
    orders = {"T": (12, [4, 4, 6]), "O": (24, [6, 8, 12]), "I": (60, [12, 20, 30])}
    for name, group, specials in _groups():
        order, sizes = orders[name]
        assert len(group) == order
        np.testing.assert_allclose(group @ group.transpose(0, 2, 1),
                                   np.broadcast_to(np.eye(3), group.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(group), 1.0, atol=1e-12)
        assert [len(o) for o in specials] == sizes
    # The 12-point orbit of I is the icosahedron: every pair at arccos(1/sqrt 5) or antipodal.
    ico_vertices = _groups()[0][2][0]
    cos = np.round(np.abs(ico_vertices @ ico_vertices.T), 12)
    assert set(np.unique(cos)) == {round(1 / math.sqrt(5), 12), 1.0}


@pytest.mark.parametrize("num, expected", [(120, ("I", 2, [])), (72, ("I", 1, [12])),
                                           (48, ("O", 2, [])), (13, None)])
def test_orbit_decompositions(num, expected):
    options = orbit_decompositions(num)
    if expected is None:
        assert options == []
        return
    name, generic, sizes = expected
    assert [(o[0], o[2], [len(s) for s in o[3]]) for o in options] == [(name, generic, sizes)]


def test_point_group_start_is_invariant_under_its_group():
    code = point_group_start(72, 3, np.random.default_rng(1))
    assert code.shape == (72, 3)
    group = _groups()[0][1]
    for g in group[::7]:
        assert _same_set(code @ g.T, code)
    assert point_group_start(13, 3, np.random.default_rng(0)) is None
    assert point_group_start(72, 4, np.random.default_rng(0)) is None


def test_axial_groups_are_the_cyclic_and_dihedral_groups():
    for name, group, specials in _axial_groups(8):
        n = int(name[1:])
        dihedral = name[0] == "D"
        assert len(group) == (2 * n if dihedral else n)
        np.testing.assert_allclose(group @ group.transpose(0, 2, 1),
                                   np.broadcast_to(np.eye(3), group.shape), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(group), 1.0, atol=1e-12)
        # Rotations about z by 2 pi k / n; the dihedral ones also turn z to -z.
        assert sum(np.allclose(g[2], [0, 0, 1]) for g in group) == n
        # Special orbits: the poles (2, or 1 + 1), and for D_n n points on each class of
        # half-turn axes, on the equator at azimuths 2 pi k / n and pi / n + 2 pi k / n.
        assert [len(o) for o in specials] == ([2, n, n] if dihedral else [1, 1])
        for orbit in specials:
            assert _same_set(orbit @ group[1].T, orbit)
    assert [name for name, _, _ in _axial_groups(3)] == ["D3", "C3", "D2", "C2"]


def test_every_group_starts_are_invariant_under_their_groups():
    found = every_group_starts(111, np.random.default_rng(0), samples=2)
    groups = {name: group for name, group, _ in _groups() + _axial_groups()}
    by_group = {}
    for name, vacancies, code in found:
        by_group.setdefault(name, []).append(vacancies)
        assert code.shape == (111 + vacancies, 3)
        np.testing.assert_allclose(np.linalg.norm(code, axis=1), 1.0)
        for g in groups[name][:: max(1, len(groups[name]) // 5)]:
            assert _same_set(code @ g.T, code)
    # Two codes per group, each with the fewest vacancies its orbits allow. Every orbit of T,
    # O and I has an even size, so 111 and 113 fit none; 112 = 9 x 12 + 4 fits T, while
    # 112 - (a sum of distinct special orbits) is never a multiple of 24 (O: 6, 8, 12) or 60
    # (I: 12, 20, 30). C5 fits exactly (22 orbits of 5 and a pole), D5 with one vacancy
    # (11 x 10 + 2 poles), as D2 (orbits of 4 and 2: even sums only); C2 exactly (55 x 2 + 1).
    assert all(len(v) == 2 for v in by_group.values())
    assert by_group["C5"] == [0, 0] and by_group["D5"] == [1, 1]
    assert by_group["D2"] == [1, 1] and by_group["C2"] == [0, 0] and by_group["T"] == [1, 1]
    assert "O" not in by_group and "I" not in by_group


def test_anneal_keeps_an_antipodal_start_antipodal():
    start = antipodal_start(24, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(start[12:], -start[:12])
    assert antipodal_start(5, 3, np.random.default_rng(0)) is None
    with _threads_for(0.0):  # one thread, as the solvers run codes this small
        codes, _ = _anneal(start[None], iterations=200, lr=0.02, lr_end=5e-4, t_start=30.0,
                           t_end=3e3, extra_loss=None, device=torch.device("cpu"),
                           dtype=torch.float64, chunk_size=None, deadline=math.inf, bar=None)
    np.testing.assert_allclose(codes[0, 12:], -codes[0, :12], atol=1e-9)

"""Pictures of a code: the contact graph and angle data against known polytopes."""

import itertools

import numpy as np
import pytest

from protogen import codeplot


def _icosahedron():
    phi = (1 + 5 ** 0.5) / 2
    pts = []
    for a, b in itertools.product((-1, 1), repeat=2):
        pts += [(0, a, b * phi), (a, b * phi, 0), (b * phi, 0, a)]
    return np.array(pts, dtype=float)


def test_contact_graph_of_known_polytopes():
    # The icosahedron's contact graph is its 30 edges, every vertex of degree 5.
    edges = codeplot.contact_edges(_icosahedron())
    assert len(edges) == 30
    assert np.bincount(edges.ravel(), minlength=12).tolist() == [5] * 12
    # Octahedron: 12 edges at 90 degrees; antipodal pairs are not contacts.
    octa = np.vstack([np.eye(3), -np.eye(3)])
    assert len(codeplot.contact_edges(octa)) == 12


def test_pair_angles_exact_and_sampled():
    octa = np.vstack([np.eye(3), -np.eye(3)])
    angles, sampled = codeplot.pair_angles_deg(octa)
    assert not sampled
    assert sorted(np.round(angles, 9).tolist()) == [90.0] * 12 + [180.0] * 3
    rng = np.random.default_rng(0)
    big = rng.normal(size=(2100, 3))
    angles, sampled = codeplot.pair_angles_deg(big)
    assert sampled and len(angles) == codeplot.MAX_EXACT_PAIRS and angles.min() >= 0


def test_reference_lines_are_the_bounds():
    from protogen import bounds

    lines = codeplot.reference_lines(12, 3)
    assert lines["simplex bound"] == pytest.approx(bounds.simplex_bound_deg(12))
    assert lines["LP bound"] == pytest.approx(63.4349488, abs=1e-4)  # icosahedron is sharp
    assert lines["best known"] == pytest.approx(63.4349488, abs=1e-5)


def test_plot_code_writes_every_picture(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    written = codeplot.plot_code(_icosahedron(), tmp_path, "ico",
                                 class_vectors=rng.normal(size=(12, 5)),
                                 names=[f"c{i}" for i in range(12)])
    assert [p.name for p in written] == ["ico-sphere.png", "ico-angles.png", "ico-semantic.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(Exception):  # no silent overwrite
        codeplot.plot_code(_icosahedron(), tmp_path, "ico")

"""Known codes in solve(): auto's exact records and constructions, --method construction, the
certified gap in `protogen solve` / `protogen info`, and `protogen plot` for a prototype file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from cli_helpers import assert_one_line_error

from protogen import bounds, io
from protogen.bench import load_table
from protogen.solvers import known, solve
from protogen.solvers.constructions import get as get_construction
from protogen.sphere import min_angle_deg
from protogen.terms import Term

# A short gradient run: the construction, not the solver, is what these tests look at.
QUICK = {"iterations": 60, "restarts": 1, "polish_iterations": 0}


@pytest.mark.parametrize("num, dim, name, status, cosine", [
    (24, 4, "24-cell", "best known", 0.5),
    (40, 5, "d5", "best known", 0.5),
    (240, 8, "e8", "proved", 0.5),
    (12, 3, "icosahedron", "proved", 1 / math.sqrt(5)),
])
def test_auto_returns_the_record_code_exactly(num, dim, name, status, cosine):
    result = solve(num, dim, progress=False)
    assert result.method == "construction" and result.params == {"name": name}
    assert min_angle_deg(result.prototypes) == pytest.approx(math.degrees(math.acos(cosine)),
                                                             abs=1e-9)
    meta = result.metadata
    assert (meta["construction"], meta["construction_how"]) == (name, "exact")
    assert meta["construction_status"] == status and meta["construction_citation"]
    assert "history" not in meta and not result.history  # no solver ran


def test_auto_takes_an_embedded_construction_that_beats_the_solver():
    # The Higman-Sims code (100 points in R^22, cos 1/11) embedded in R^25 beats a short solve.
    result = solve(100, 25, progress=False, **QUICK)
    assert result.method == "construction" and result.params == {"name": "higman-sims-100"}
    angle = min_angle_deg(result.prototypes)
    assert angle == pytest.approx(math.degrees(math.acos(1 / 11)), abs=1e-9)
    assert angle >= 84.78
    meta = result.metadata
    assert meta["construction_how"] == "embedded" and meta["construction_status"] == "construction"
    assert meta["auto_choice"] == "construction" and meta["auto_solver_method"] == "gradient"
    assert meta["auto_solver_min_angle_deg"] < angle
    assert np.allclose(result.prototypes[:, 22:], 0.0)


def test_auto_keeps_the_solver_when_it_is_better_and_says_what_it_compared():
    # 13 points in R^3: the best construction that fits is a subset of the snub cube, which
    # keeps the snub cube's angle (about 43.69 deg) but not much more; the solver does better.
    result = solve(13, 3, progress=False, iterations=300, restarts=2)
    meta = result.metadata
    assert result.method == "gradient" and meta["auto_choice"] == "solver"
    assert meta["auto_construction"] == "snub-cube"
    snub_angle = get_construction("snub-cube").min_angle_deg  # every subset keeps it
    assert meta["auto_construction_min_angle_deg"] >= snub_angle - 1e-9
    assert meta["auto_solver_min_angle_deg"] == pytest.approx(min_angle_deg(result.prototypes))
    assert meta["auto_solver_min_angle_deg"] > meta["auto_construction_min_angle_deg"]


def test_auto_is_deterministic_for_a_seed():
    a, b = (solve(13, 3, seed=3, progress=False, **QUICK) for _ in range(2))
    assert np.array_equal(a.prototypes, b.prototypes) and a.metadata == b.metadata
    c, d = (solve(100, 25, seed=3, progress=False, **QUICK) for _ in range(2))
    assert np.array_equal(c.prototypes, d.prototypes) and c.metadata == d.metadata


def test_the_lookup_is_skipped_above_its_size_limit(monkeypatch):
    monkeypatch.setattr(known, "LOOKUP_LIMIT", 100 * 25 - 1)
    result = solve(100, 25, progress=False, **QUICK)
    assert result.method == "gradient" and "auto_choice" not in result.metadata


class _Nudge(Term):
    """A toy term: pulls every point's first coordinate down a little."""

    name = "nudge"
    weight = 0.01

    def loss(self, x):
        return self.weight * x[:, 0].sum()

    def metrics(self, prototypes):
        return {"first": float(np.mean(np.asarray(prototypes)[:, 0]))}


def test_terms_never_get_a_construction():
    result = solve(24, 4, terms=[_Nudge()], progress=False, **QUICK)
    assert result.method == "gradient"
    assert "construction" not in result.metadata and "auto_choice" not in result.metadata
    # the closed forms still stand in as the plain reference (today's rule)
    assert min_angle_deg(result.prototypes) < 60.0 - 1e-6


# ---------------------------------------------------------------- --method construction
def test_method_construction_by_name_alias_subset_and_embedding():
    exact = solve(24, 4, "construction", name="d4", progress=False)
    assert exact.params == {"name": "24-cell"} and exact.metadata["construction_how"] == "exact"
    assert min_angle_deg(exact.prototypes) == pytest.approx(60.0, abs=1e-9)
    subset = solve(100, 8, "construction", name="e8", progress=False)
    assert subset.metadata["construction_how"] == "subset"
    assert min_angle_deg(subset.prototypes) >= 60.0 - 1e-9
    embedded = solve(12, 5, "construction", name="icosahedron", progress=False)
    assert embedded.metadata["construction_how"] == "embedded"
    assert min_angle_deg(embedded.prototypes) == pytest.approx(63.43494882292201, abs=1e-9)


def test_method_construction_cli_writes_the_citation(run, tmp_path):
    r = run("solve", "-k", 240, "-d", 8, "-m", "construction", "-o", "name=e8", "-q", "--out",
            "e8.h5")
    assert r.exit_code == 0, r.output
    assert "construction      e8 (exact: 240 points in R^8, cos 1/2; proved)" in r.output
    assert "citation" in r.output and "Sphere Packings" in r.output
    attrs = io.load_prototypes(tmp_path / "e8.h5").attrs
    assert attrs["method"] == "construction" and attrs["param_name"] == "e8"
    assert attrs["construction_status"] == "proved" and "Conway" in attrs["construction_citation"]
    r = run("info", "e8.h5")
    assert r.exit_code == 0 and "construction_citation" in r.output and "LP bound" in r.output


@pytest.mark.parametrize("args, fragment", [
    (["-k", 24, "-d", 4, "-o", "name=dodecahedron"], "unknown construction 'dodecahedron'"),
    (["-k", 241, "-d", 8, "-o", "name=e8"], "cannot give 241 points in 8 dimensions"),
    (["-k", 24, "-d", 3, "-o", "name=24-cell"], "cannot give 24 points in 3 dimensions"),
    (["-k", 24, "-d", 4], "needs -o name=NAME"),
    (["-k", 24, "-d", 4, "-o", "name=d300"], "d<n>"),
    (["-k", 24, "-d", 4, "-o", "name=e8", "-o", "iterations=3"], "no option 'iterations'"),
])
def test_method_construction_bad_input_is_one_line_and_writes_nothing(run, tmp_path, args,
                                                                      fragment):
    assert_one_line_error(run("solve", "-m", "construction", *args, "-q", "--out", "x.h5"),
                          fragment)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- certified gap
def test_solve_summary_has_the_lp_bound_and_the_record(run):
    r = run("solve", "-k", 24, "-d", 4, "--json", "--out", "a.h5")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    # The LP search warm-starts from earlier calls, so values agree to its tolerance (1e-6 deg).
    lp = summary["delsarte_lp_bound_deg"]
    assert lp == pytest.approx(bounds.delsarte_lp_bound_deg(24, 4), abs=1e-6)
    assert summary["gap_to_delsarte_lp_bound_deg"] == pytest.approx(lp - 60.0, abs=1e-9)
    record = load_table()[(4, 24)]
    assert summary["best_known_deg"] == record.min_angle_deg == pytest.approx(60.0)
    assert summary["best_known_status"] == record.status
    assert summary["best_known_source"] == record.source
    assert summary["gap_to_best_known_deg"] == pytest.approx(0.0, abs=1e-9)
    assert summary["upper_bound_deg"] == min(summary["simplex_bound_deg"],
                                             summary["rankin_bound_deg"], lp)
    assert summary["construction"] == "24-cell" and summary["construction_status"] == "best known"
    r = run("solve", "-k", 24, "-d", 4, "--out", "b.h5")
    assert f"LP bound          {lp:.6f} deg" in r.output
    assert "best known        60.000000 deg (gap 0.000000;" in r.output
    assert "construction      24-cell (exact" in r.output


def test_solve_100_in_25_prints_the_lp_bound(run):
    r = run("solve", "-k", 100, "-d", 25, "-q", *sum((["-o", f"{k}={v}"]
                                                      for k, v in QUICK.items()), []))
    assert r.exit_code == 0, r.output
    lp = bounds.delsarte_lp_bound_deg(100, 25)
    assert lp == pytest.approx(86.06, abs=0.01)
    shown = float(r.output.split("LP bound")[1].split()[0])
    assert shown == pytest.approx(lp, abs=2e-6)
    assert "higman-sims-100 (embedded" in r.output and "auto              the construction's" \
        in r.output


def test_solve_without_a_table_row_has_no_best_known_line(run):
    r = run("solve", "-k", 100, "-d", 25, "--json", "-q", *sum((["-o", f"{k}={v}"]
                                                          for k, v in QUICK.items()), []))
    summary = json.loads(r.output)
    assert summary["best_known_deg"] is None and "gap_to_best_known_deg" not in summary


def test_info_shows_the_gap(run, tmp_path):
    assert run("solve", "-k", 13, "-d", 3, "-q", "--out", "p.h5", "-o", "iterations=50",
               "-o", "restarts=1").exit_code == 0
    r = run("info", "p.h5", "--json")
    report = json.loads(r.output)
    gap = report["bounds"]
    angle = report["recomputed"]["min_angle_deg"]
    assert gap["delsarte_lp_bound_deg"] == pytest.approx(bounds.delsarte_lp_bound_deg(13, 3),
                                                         abs=1e-6)
    assert gap["fejes_toth_bound_deg"] == bounds.fejes_toth_bound_deg(13, 3)
    assert gap["best_known_deg"] == pytest.approx(57.1367031)  # proved (Musin & Tarasov)
    assert gap["gap_to_best_known_deg"] == pytest.approx(57.1367031 - angle)
    text = run("info", "p.h5").output
    assert "Fejes Toth bound" in text and "best known        57.136703 deg" in text


def test_a_time_limit_too_short_for_one_start_returns_the_best_start_and_says_so(run):
    result = solve(30, 3, "gradient", time_limit=1e-6, progress=False)
    assert result.metadata["time_limit_reached"] is True
    assert result.metadata["restarts_completed"] == 0
    assert min_angle_deg(result.prototypes) > 0
    r = run("solve", "-k", 30, "-d", 3, "-m", "gradient", "--time-limit", 1e-6, "-q")
    assert r.exit_code == 0, r.output
    assert "time limit        reached" in r.output and "too short for even one start" in r.output
    r = run("solve", "-k", 30, "-d", 3, "-m", "gradient", "-q", "--out", "b.h5",
            "-o", "iterations=20", "-o", "restarts=1")
    assert "time limit" not in r.output


# ---------------------------------------------------------------- protogen plot FILE
def _png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_a_prototype_file(run, tmp_path):
    pytest.importorskip("matplotlib")
    assert run("solve", "-k", 12, "-d", 3, "-q", "--out", "ico.h5").exit_code == 0
    r = run("plot", "ico.h5")
    assert r.exit_code == 0, r.output
    assert _png(tmp_path / "ico-sphere.png") and _png(tmp_path / "ico-angles.png")
    assert_one_line_error(run("plot", "ico.h5"), "already exists")
    assert run("plot", "ico.h5", "--force").exit_code == 0
    (tmp_path / "pics").mkdir()
    assert run("plot", "ico.h5", "--out-dir", "pics").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["ico-angles.png",
                                                                     "ico-sphere.png"]


def test_plot_a_semantic_file_and_a_high_dimensional_one(run, tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    points = rng.normal(size=(6, 5))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    io.save_prototypes(tmp_path / "sem.h5", points, class_names=list("abcdef"),
                       datasets={"class_vectors": rng.normal(size=(6, 7))})
    r = run("plot", "sem.h5")
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in tmp_path.glob("sem-*.png"))
    assert names == ["sem-angles.png", "sem-semantic.png"]  # D = 5: no sphere


def test_plot_refuses_before_drawing_anything(run, tmp_path):
    pytest.importorskip("matplotlib")
    assert run("solve", "-k", 12, "-d", 3, "-q", "--out", "ico.h5").exit_code == 0
    (tmp_path / "ico-angles.png").write_bytes(b"mine")
    assert_one_line_error(run("plot", "ico.h5"), "ico-angles.png already exists")
    assert not (tmp_path / "ico-sphere.png").exists()  # nothing half done
    assert (tmp_path / "ico-angles.png").read_bytes() == b"mine"
    assert_one_line_error(run("plot", "missing.h5"), "no such prototype file or run directory")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    r = run("plot", "bad.h5")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_auto_memory_is_the_record_s_when_one_exists():
    from protogen.solvers.registry import GradientParams, get, gradient_memory

    auto = get("auto").memory
    assert auto(196560, 24, GradientParams()) == 8 * 196560 * 24 * 2  # the Leech lattice's
    assert auto(10**6, 2, GradientParams()) == 8 * 10**6 * 2 * 2  # a polygon
    assert auto(100, 25, GradientParams()) == gradient_memory(100, 25, GradientParams())
    assert known.has_record(24, 4) and known.has_record(8, 4) and not known.has_record(25, 4)
    for num, dim in [(24, 4), (8, 4), (25, 4), (13, 3), (240, 8), (7, 2)]:
        assert known.has_record(num, dim) == (known.record_code(num, dim, 0) is not None)

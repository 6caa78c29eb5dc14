"""The best-known table (checked from coordinates), the bench library and ``protogen bench``."""

import csv
import itertools
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from protogen import bench
from protogen.cli import main
from protogen.errors import FileFormatError, InputError
from protogen.solvers.closed_form import cross_polytope, simplex
from protogen.sphere import min_angle_deg, normalize

# ---------------------------------------------------------------------------------------------
# Codes built from their coordinates: an independent check of the table's figures.


def _even_permutations(n):
    for p in itertools.permutations(range(n)):
        inversions = sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n))
        if inversions % 2 == 0:
            yield p


def icosahedron():
    phi = (1 + 5 ** 0.5) / 2
    pts = []
    for a, b in itertools.product((1, -1), repeat=2):
        pts += [(0, a, b * phi), (a, b * phi, 0), (b * phi, 0, a)]
    return normalize(np.array(pts, float))


def snub_cube():
    # Tribonacci constant t (t^3 = t^2 + t + 1); vertices: even permutations of
    # (+-1, +-1/t, +-t) with an even number of plus signs, odd permutations with an odd number.
    t = max(r.real for r in np.roots([1, -1, -1, -1]) if abs(r.imag) < 1e-12)
    base = np.array([1.0, 1.0 / t, t])
    even = [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    odd = [(0, 2, 1), (2, 1, 0), (1, 0, 2)]
    pts = []
    for perms, parity in ((even, 0), (odd, 1)):
        for p in perms:
            for signs in itertools.product((1, -1), repeat=3):
                if sum(s > 0 for s in signs) % 2 == parity:
                    pts.append(np.array(signs) * base[list(p)])
    return normalize(np.array(pts))


def cell24():
    pts = set()
    for i, j in itertools.combinations(range(4), 2):
        for a, b in itertools.product((1, -1), repeat=2):
            v = [0, 0, 0, 0]
            v[i], v[j] = a, b
            pts.add(tuple(v))
    return normalize(np.array(sorted(pts), float))


def cell600():
    phi = (1 + 5 ** 0.5) / 2
    pts = set()
    for i in range(4):
        for s in (1, -1):
            v = [0.0] * 4
            v[i] = s
            pts.add(tuple(v))
    for signs in itertools.product((0.5, -0.5), repeat=4):
        pts.add(signs)
    base = (phi / 2, 0.5, 1 / (2 * phi), 0.0)
    for p in _even_permutations(4):
        for signs in itertools.product((1, -1), repeat=3):
            v = [0.0] * 4
            for k in range(4):
                v[p[k]] = base[k] * (signs[k] if k < 3 else 1)
            pts.add(tuple(round(x, 12) for x in v))
    return normalize(np.array(sorted(pts)))


def petersen_code():
    # e_i + e_j (i < j) in R^5, centred and written in an orthonormal basis of sum(x) = 0.
    vecs = []
    for i, j in itertools.combinations(range(5), 2):
        v = np.zeros(5)
        v[[i, j]] = 1
        vecs.append(v - 0.4)
    basis, _ = np.linalg.qr((np.eye(5) - 0.2)[:, :4])
    return normalize(np.array(vecs) @ basis)


def half_cube5():
    pts = [s for s in itertools.product((1, -1), repeat=5) if s.count(-1) % 2 == 0]
    return normalize(np.array(pts, float))


def d5_roots():
    pts = []
    for i, j in itertools.combinations(range(5), 2):
        for a, b in itertools.product((1, -1), repeat=2):
            v = np.zeros(5)
            v[i], v[j] = a, b
            pts.append(v)
    return normalize(np.array(pts))


def e8_roots():
    # 112 of type (+-1, +-1, 0^6) and 128 of type (+-1/2)^8 with an even number of minus signs.
    pts = [v for v in (np.array(x, float) for x in itertools.product((-1, 0, 1), repeat=8))
           if np.count_nonzero(v) == 2]
    pts += [np.array(x) for x in itertools.product((0.5, -0.5), repeat=8)
            if sum(c < 0 for c in x) % 2 == 0]
    return np.array(pts)


def _vertex_figure(points, apex, cosine):
    # The points at inner product `cosine` from `apex`, projected onto apex's orthogonal
    # complement and written in a basis of it (the next code in the Gosset series).
    unit = normalize(points)
    apex = normalize(apex[None])[0]
    near = unit[np.isclose(unit @ apex, cosine)]
    basis = np.linalg.svd(np.eye(apex.size) - np.outer(apex, apex))[0][:, :apex.size - 1]
    return normalize((near - np.outer(near @ apex, apex)) @ basis)


def gosset56():
    roots = e8_roots()
    return _vertex_figure(roots, roots[0], 0.5)   # E8 roots r with <r, v> = 1: 56 in R^7


def schlafli27():
    code = gosset56()
    return _vertex_figure(code, code[0], 1 / 3)   # vertex figure of the Gosset code: 27 in R^6


CONSTRUCTIONS = {
    (3, 6): lambda: cross_polytope(6, 3),
    (3, 12): icosahedron,
    (3, 11): lambda: icosahedron()[1:],
    (3, 24): snub_cube,
    (4, 10): petersen_code,
    (4, 24): cell24,
    (4, 120): cell600,
    (5, 16): half_cube5,
    (5, 40): d5_roots,
    (6, 27): schlafli27,
    (7, 56): gosset56,
    (8, 240): lambda: normalize(e8_roots()),
    (50, 100): lambda: cross_polytope(100, 50),
    (100, 100): lambda: simplex(100, 100),
}


@pytest.fixture(scope="module")
def table():
    return bench.load_table()


@pytest.mark.parametrize("key", sorted(CONSTRUCTIONS))
def test_table_rows_match_their_coordinates(table, key):
    points = CONSTRUCTIONS[key]()
    assert points.shape == key[::-1]
    assert table[key].min_angle_deg == pytest.approx(min_angle_deg(points), abs=1e-7)


def test_table_families_match_closed_forms(table):
    for (dim, num), row in table.items():
        if num <= dim + 1:
            assert row.min_angle_deg == pytest.approx(min_angle_deg(simplex(num, dim)), abs=1e-7)
            assert row.status == "proved"
        elif num <= 2 * dim:
            assert row.min_angle_deg == pytest.approx(90.0, abs=1e-12)
            assert row.status == "proved"


def test_table_d3_closed_form_cosines(table):
    # Minimal polynomials of the optimal cosines for N = 7 and 8 (Schutte & van der Waerden).
    c7 = math.cos(math.radians(table[(3, 7)].min_angle_deg))
    assert 3 * c7 ** 3 - 9 * c7 ** 2 - 3 * c7 + 1 == pytest.approx(0, abs=1e-9)
    c8 = math.cos(math.radians(table[(3, 8)].min_angle_deg))
    assert 7 * c8 ** 2 + 2 * c8 - 1 == pytest.approx(0, abs=1e-9)
    assert table[(3, 9)].min_angle_deg == pytest.approx(math.degrees(math.acos(1 / 3)), abs=1e-9)
    # N = 10: the cosine of Cohn's table, 0.40439432521625075684622475072579.
    c10 = math.cos(math.radians(table[(3, 10)].min_angle_deg))
    assert c10 == pytest.approx(0.40439432521625075684622475072579, abs=1e-11)


def test_table_sharp_configurations(table):
    # Sharp configurations (Cohn & Kumar 2007, Table 1): the table's angle is arccos of the
    # largest inner product, and they are proved optimal.
    sharp = {(6, 27): 1 / 4, (7, 56): 1 / 3, (8, 240): 1 / 2, (21, 162): 1 / 7,
             (22, 100): 1 / 11, (22, 275): 1 / 6, (22, 891): 1 / 4, (23, 552): 1 / 5,
             (23, 4600): 1 / 3, (24, 196560): 1 / 2}
    for key, cosine in sharp.items():
        assert table[key].min_angle_deg == pytest.approx(math.degrees(math.acos(cosine)),
                                                         abs=1e-9), key
        assert table[key].status == "proved"


def test_table_coverage_and_shape(table):
    d3 = [n for (d, n) in table if d == 3]
    assert set(range(4, 131)) <= set(d3)
    angles = [table[(3, n)].min_angle_deg for n in range(4, 131)]
    assert all(a >= b for a, b in zip(angles, angles[1:]))  # more points never help
    assert table[(3, 130)].min_angle_deg == pytest.approx(18.5103522, abs=1e-7)
    proved = {n for n in range(4, 131) if table[(3, n)].status == "proved"}
    assert proved == set(range(4, 15)) | {24}
    assert all(row.source for row in table.values())


# ---------------------------------------------------------------------------------------------
# Parsing and validation.


def test_parse_int_list():
    assert bench.parse_int_list("3,4,5") == [3, 4, 5]
    assert bench.parse_int_list("4-8") == [4, 5, 6, 7, 8]
    assert bench.parse_int_list(" 4-6, 10 ,5") == [4, 5, 6, 10]
    for bad in ("", "4-", "a", "30-4", "1-3", "4--6", "3;4"):
        with pytest.raises(InputError):
            bench.parse_int_list(bad, "--points")


def test_parse_methods():
    assert bench.parse_methods("gradient,memetic,gradient") == ["gradient", "memetic"]
    with pytest.raises(InputError, match="unknown method 'simulated'"):
        bench.parse_methods("gradient,simulated")


def _write_table(path, rows, header=("dim", "num_points", "min_angle_deg", "status", "source")):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_load_table_rejects_bad_files(tmp_path):
    missing = _write_table(tmp_path / "a.csv", [(3, 4, 109.47, "proved")],
                           header=("dim", "num_points", "min_angle_deg", "status"))
    with pytest.raises(FileFormatError, match="lacks column.*source"):
        bench.load_table(missing)
    with pytest.raises(FileFormatError, match="status"):
        bench.load_table(_write_table(tmp_path / "b.csv", [(3, 4, 109.47, "maybe", "x")]))
    with pytest.raises(FileFormatError, match="integers"):
        bench.load_table(_write_table(tmp_path / "c.csv", [(3, "four", 109.47, "proved", "x")]))
    with pytest.raises(FileFormatError, match="duplicate"):
        bench.load_table(_write_table(tmp_path / "d.csv", [(3, 4, 109.4, "proved", "x")] * 2))
    with pytest.raises(FileFormatError, match="not found"):
        bench.load_table(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# The bench itself, on a tiny table.


@pytest.fixture()
def tiny_table(tmp_path):
    # (3, 6) carries a deliberately inflated "record" so that the ratio is a known 90/100.
    return _write_table(tmp_path / "tiny.csv", [
        (3, 4, math.degrees(math.acos(-1 / 3)), "proved", "tetrahedron"),
        (3, 5, 90, "proved", "bipyramid"),
        (3, 6, 100, "putative", "inflated on purpose"),
    ])


def test_run_bench_ratios_and_summary(tiny_table):
    results = bench.run_bench([3], [4, 5, 6, 7], ["auto", "closed-form"], table=tiny_table,
                              lp=False, progress=False, time_limit=1.0)
    assert len(results) == 8
    by = {(r.num_points, r.method): r for r in results}
    assert by[(4, "auto")].ratio == pytest.approx(1.0, abs=1e-12)
    assert by[(4, "auto")].within_tol and by[(4, "auto")].gap_deg == 0.0
    assert by[(6, "auto")].ratio == pytest.approx(0.9, abs=1e-12)
    assert by[(6, "auto")].within_tol is False
    assert by[(6, "auto")].bound == "fejes_toth" or by[(6, "auto")].upper_bound_deg == 90.0
    assert by[(7, "auto")].ratio is None  # not on the tiny table
    assert by[(7, "closed-form")].error and by[(7, "closed-form")].min_angle_deg is None
    summary = bench.summarize(results)
    assert summary["auto"]["tabulated"] == 3 and summary["auto"]["within_tol"] == 2
    assert summary["auto"]["worst_ratio"] == pytest.approx(0.9)
    assert summary["auto"]["worst_case"] == "D=3 N=6"
    assert summary["closed-form"]["failed"] == 1
    md = bench.summary_markdown(summary)
    assert "| auto | 4 | 3 | 2/3 | 0.90000000 (D=3 N=6" in md


def test_cli_bench_end_to_end(tmp_path, tiny_table):
    out, fig = tmp_path / "r.csv", tmp_path / "fig.png"
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "--dims", "3", "--points", "4-6", "--methods",
                               "auto,gradient", "--time-limit", "1", "--table", str(tiny_table),
                               "--out", str(out), "--plot", str(fig), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "| method | cases |" in res.output and "| auto | 3 | 3 | 2/3 |" in res.output
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 6 and {r["method"] for r in rows} == {"auto", "gradient"}
    grad5 = next(r for r in rows if r["method"] == "gradient" and r["num_points"] == "5")
    assert float(grad5["min_angle_deg"]) <= 90.0 + 1e-9  # below the proven bound
    assert float(grad5["upper_bound_deg"]) == pytest.approx(90.0)
    assert fig.stat().st_size > 1000
    # No silent overwrite; --json gives one parseable object.
    again = runner.invoke(main, ["bench", "--points", "4", "--table", str(tiny_table),
                                 "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output
    js = runner.invoke(main, ["bench", "--points", "4-5", "--table", str(tiny_table),
                              "--no-lp", "--json"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.output)
    assert data["summary"]["auto"]["within_tol"] == 2 and len(data["cases"]) == 2


@pytest.mark.parametrize("args, message", [
    (["--methods", "gradient,annealing"], "unknown method 'annealing'"),
    (["--points", "30-4"], "range 30-4 is empty"),
    (["--points", "4-x"], "cannot read"),
    (["--dims", ""], "empty list"),
])
def test_cli_bench_bad_input_is_one_line(args, message, tiny_table):
    res = CliRunner().invoke(main, ["bench", "--table", str(tiny_table), *args])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1


def test_cli_bench_table_missing_column_is_one_line(tmp_path):
    bad = _write_table(tmp_path / "bad.csv", [(3, 4, 109.47, "proved")],
                       header=("dim", "num_points", "min_angle_deg", "status"))
    res = CliRunner().invoke(main, ["bench", "--table", str(bad)])
    assert res.exit_code == 2
    assert "lacks column(s) source" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bench_dimension_range_reports_the_tabulated_rows():
    # --dims 4-9: the shipped table has simplex / cross-polytope rows for D = 4..8 and none for
    # D = 9, which --only-tabulated skips; closed-form meets every record exactly.
    dims, points = bench.parse_int_list("4-9", "--dims"), bench.parse_int_list("5-8")
    results = bench.run_bench(dims, points, ["closed-form"], lp=False, progress=False,
                              only_tabulated=True)
    assert {(r.dim, r.num_points) for r in results} == {
        (d, n) for d in range(4, 9) for n in range(5, 9)}
    assert all(r.within_tol and r.ratio == pytest.approx(1.0, abs=1e-12) for r in results)


def test_cli_bench_reports_the_sharp_rows():
    res = CliRunner().invoke(main, ["bench", "--dims", "3-8", "--points", "27,56,240",
                                    "--methods", "closed-form", "--only-tabulated", "--no-lp",
                                    "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    cases = json.loads(res.output)["cases"]
    by = {(c["dim"], c["num_points"]): c for c in cases}
    assert set(by) == {(3, 27), (3, 56), (6, 27), (7, 56), (8, 240)}
    assert [by[k]["best_known_deg"] for k in ((6, 27), (7, 56), (8, 240))] == pytest.approx(
        [75.5224878141, 70.5287793655, 60.0])

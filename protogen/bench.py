"""Benchmark spherical-code solvers against the best-known table and the proven upper bounds.

For every case (dimension D, number of points N) and method, :func:`run_bench` calls
:func:`protogen.solvers.solve` and reports the code's minimum angle, its ratio to the best-known
angle (``protogen/data/best_known_codes.csv``), and its gap to the best computed upper bound
(:mod:`protogen.bounds`). The solvers never see the table: it is only the yardstick.

Reading a report: ``ratio`` = angle / best known (1.0 = matches the record, < 1 = worse);
``within_tol`` = the angle is within ``tolerance_deg`` (1e-4 degrees) of the record; ``gap`` =
upper bound - angle, how far the code is from what is provably possible (0 only where the
bound is tight, e.g. simplex, cross-polytope, icosahedron, 600-cell).
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from protogen import bounds as _bounds
from protogen.errors import FileFormatError, InputError, ProtogenError
from protogen.io import atomic_path
from protogen.solvers.registry import SOLVERS
from protogen.sphere import min_angle_deg

TABLE_COLUMNS = ("dim", "num_points", "min_angle_deg", "status", "source")
STATUSES = ("proved", "putative")
BENCH_METHODS = tuple(SOLVERS)
DEFAULT_TOLERANCE_DEG = 1e-4
RESULT_FIELDS = ("dim", "num_points", "method", "seed", "min_angle_deg", "best_known_deg",
                 "status", "ratio", "within_tol", "upper_bound_deg", "bound", "gap_deg",
                 "time_s", "solver_method", "error")


@dataclass(frozen=True)
class BestKnown:
    """One row of the best-known table."""

    dim: int
    num_points: int
    min_angle_deg: float
    status: str
    source: str
    checked_by: str = ""


@dataclass
class CaseResult:
    """One (dim, num_points, method) run. ``ratio``/``best_known_deg`` are None off the table."""

    dim: int
    num_points: int
    method: str
    seed: int
    min_angle_deg: float | None
    best_known_deg: float | None
    status: str | None
    ratio: float | None
    within_tol: bool | None
    upper_bound_deg: float
    bound: str
    gap_deg: float | None
    time_s: float
    solver_method: str = ""
    error: str = ""
    prototypes: np.ndarray | None = field(default=None, repr=False, compare=False)

    def row(self) -> dict:
        out = asdict(self)
        out.pop("prototypes")
        return out


def default_table_path() -> Path:
    """The shipped table (package data, so an installed ``protogen bench`` finds it)."""
    return Path(str(resources.files("protogen.data") / "best_known_codes.csv"))


def load_table(path=None) -> dict[tuple[int, int], BestKnown]:
    """Read and validate a best-known table: ``{(dim, num_points): BestKnown}``.

    Required columns: dim, num_points, min_angle_deg, status (proved|putative), source; an
    optional checked_by column. Any problem is a :class:`FileFormatError` naming file and line.
    """
    path = default_table_path() if path is None else Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in TABLE_COLUMNS if c not in header]
            if missing:
                raise FileFormatError(
                    f"{path}: best-known table lacks column(s) {', '.join(missing)} "
                    f"(needs {', '.join(TABLE_COLUMNS)})")
            table: dict[tuple[int, int], BestKnown] = {}
            for line, rec in enumerate(reader, start=2):
                table_key, row = _parse_row(path, line, rec)
                if table_key in table:
                    raise FileFormatError(f"{path}:{line}: duplicate row for D={table_key[0]}, "
                                          f"N={table_key[1]}")
                table[table_key] = row
    except FileNotFoundError:
        raise FileFormatError(f"best-known table {path} not found") from None
    except UnicodeDecodeError:
        raise FileFormatError(f"{path}: not a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise FileFormatError(f"{path}: malformed CSV ({exc})") from None
    if not table:
        raise FileFormatError(f"{path}: best-known table has no rows")
    return table


def _parse_row(path, line, rec):
    try:
        dim, num = int(rec["dim"]), int(rec["num_points"])
        angle = float(rec["min_angle_deg"])
    except (TypeError, ValueError):
        raise FileFormatError(f"{path}:{line}: dim and num_points must be integers and "
                              "min_angle_deg a number") from None
    if dim < 2 or num < 2 or not 0.0 < angle <= 180.0:
        raise FileFormatError(f"{path}:{line}: need dim >= 2, num_points >= 2 and "
                              f"0 < min_angle_deg <= 180")
    status = (rec.get("status") or "").strip()
    if status not in STATUSES:
        raise FileFormatError(f"{path}:{line}: status must be one of {', '.join(STATUSES)}, "
                              f"got {status!r}")
    return (dim, num), BestKnown(dim, num, angle, status, (rec.get("source") or "").strip(),
                                 (rec.get("checked_by") or "").strip())


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_int_list(text: str, name: str = "value", minimum: int = 2) -> list[int]:
    """Parse "3,4,5", "4-30" or "4-10,12,20-22" into a sorted list of distinct integers."""
    if text is None or not str(text).strip():
        raise InputError(f"{name}: empty list")
    out: set[int] = set()
    for part in str(text).split(","):
        match = _RANGE.match(part)
        if not match:
            raise InputError(f"{name}: cannot read {part.strip()!r} (use e.g. 3,4,5 or 4-30)")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise InputError(f"{name}: range {lo}-{hi} is empty (write the smaller end first)")
        if lo < minimum:
            raise InputError(f"{name}: values must be >= {minimum}, got {lo}")
        if hi - lo > 100_000:
            raise InputError(f"{name}: range {lo}-{hi} is too long")
        out.update(range(lo, hi + 1))
    return sorted(out)


def parse_methods(text: str) -> list[str]:
    """Parse "gradient,memetic" into a list of known method names (order kept, no repeats)."""
    names = [m.strip() for m in str(text or "").split(",") if m.strip()]
    if not names:
        raise InputError("methods: empty list")
    for m in names:
        if m not in BENCH_METHODS:
            raise InputError(f"unknown method {m!r} (choose from {', '.join(BENCH_METHODS)})")
    return list(dict.fromkeys(names))


def upper_bound(num: int, dim: int, *, lp: bool = True) -> tuple[float, str]:
    """The best (smallest) computed upper bound on the min angle and the name of that bound."""
    found = _bounds.best_upper_bound_deg(num, dim, lp=lp)
    names = {k: v for k, v in found.items() if k not in ("best", "rankin_strict")}
    name = min(names, key=names.get)
    return found["best"], name


def run_case(num: int, dim: int, method: str, *, seed: int = 0, time_limit: float | None = None,
             table: dict | None = None, lp: bool = True, tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
             solver_options: dict | None = None) -> CaseResult:
    """Solve one case and compare it with the table (if it has the case) and the bounds."""
    from protogen.solvers import solve

    bound, bound_name = upper_bound(num, dim, lp=lp)
    record = (table or {}).get((dim, num))
    start = time.perf_counter()
    angle, error, solver_method, points = None, "", "", None
    try:
        result = solve(num, dim, method=method, seed=seed, time_limit=time_limit, progress=False,
                       **(solver_options or {}))
        points = result.prototypes
        angle = min_angle_deg(points)
        solver_method = result.method
    except ProtogenError as exc:  # e.g. closed-form where none is optimal, too large: go on
        error = str(exc)
    elapsed = time.perf_counter() - start
    best = record.min_angle_deg if record else None
    ratio = within = gap = None
    if angle is not None:
        gap = bound - angle
        if abs(gap) < 1e-9:  # round-off where the code meets a tight bound
            gap = 0.0
        if best is not None:
            ratio = angle / best
            within = bool(best - angle <= tolerance_deg)
    return CaseResult(dim, num, method, seed, angle, best, record.status if record else None,
                      ratio, within, bound, bound_name, gap, elapsed, solver_method, error,
                      points)


def cases(dims, points) -> list[tuple[int, int]]:
    """All (dim, num) pairs, dimension-major."""
    return [(d, n) for d in dims for n in points]


def run_bench(dims, points, methods, *, seed: int = 0, time_limit: float | None = None,
              table=None, lp: bool = True, tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
              progress: bool = True, only_tabulated: bool = False, solver_options=None,
              callback=None) -> list[CaseResult]:
    """Run every method on every (dim, num) case. ``table``: a loaded table or a path (None =
    the shipped one). ``callback(result)`` is called after each case (the CLI prints lines)."""
    from tqdm import tqdm

    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time limit must be positive, got {time_limit}")
    if not isinstance(table, dict):
        table = load_table(table)
    methods = [methods] if isinstance(methods, str) else list(methods)
    parse_methods(",".join(methods))
    todo = [(d, n) for d, n in cases(dims, points) if not only_tabulated or (d, n) in table]
    if not todo:
        raise InputError("no case to run (the table has none of these dims/points)")
    results = []
    with tqdm(total=len(todo) * len(methods), desc="bench", disable=not progress,
              leave=False) as bar:
        for dim, num in todo:
            for method in methods:
                bar.set_postfix_str(f"D={dim} N={num} {method}")
                res = run_case(num, dim, method, seed=seed, time_limit=time_limit, table=table,
                               lp=lp, tolerance_deg=tolerance_deg, solver_options=solver_options)
                results.append(res)
                if callback is not None:
                    callback(res)
                bar.update(1)
    return results


def summarize(results: list[CaseResult], tolerance_deg: float = DEFAULT_TOLERANCE_DEG) -> dict:
    """Per method: cases, cases on the table, within tolerance, worst ratio (and its case),
    median time, largest gap to the upper bound."""
    out = {}
    for method in dict.fromkeys(r.method for r in results):
        rows = [r for r in results if r.method == method]
        solved = [r for r in rows if r.min_angle_deg is not None]
        tab = [r for r in solved if r.ratio is not None]
        worst = min(tab, key=lambda r: r.ratio) if tab else None
        gaps = [r for r in solved if r.gap_deg is not None]
        largest_gap = max(gaps, key=lambda r: r.gap_deg) if gaps else None
        out[method] = {
            "cases": len(rows),
            "failed": len(rows) - len(solved),
            "tabulated": len(tab),
            "within_tol": sum(bool(r.within_tol) for r in tab),
            "tolerance_deg": tolerance_deg,
            "worst_ratio": worst.ratio if worst else None,
            "worst_case": f"D={worst.dim} N={worst.num_points}" if worst else None,
            "worst_angle_deg": worst.min_angle_deg if worst else None,
            "worst_best_known_deg": worst.best_known_deg if worst else None,
            "median_time_s": statistics.median(r.time_s for r in rows) if rows else None,
            "total_time_s": sum(r.time_s for r in rows),
            "largest_gap_deg": largest_gap.gap_deg if largest_gap else None,
            "largest_gap_case": (f"D={largest_gap.dim} N={largest_gap.num_points}"
                                 if largest_gap else None),
        }
    return out


def _fmt(value, spec=".6f"):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def cases_markdown(results: list[CaseResult]) -> str:
    """One markdown row per case."""
    lines = ["| D | N | method | min angle (deg) | best known | ratio | within | bound (deg) "
             "| gap (deg) | time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        within = "-" if r.within_tol is None else ("yes" if r.within_tol else "NO")
        best = "-" if r.best_known_deg is None else f"{r.best_known_deg:.7f} ({r.status})"
        angle = _fmt(r.min_angle_deg, ".7f") if not r.error else f"error: {r.error}"
        lines.append(f"| {r.dim} | {r.num_points} | {r.method} | {angle} | {best} | "
                     f"{_fmt(r.ratio, '.8f')} | {within} | {r.upper_bound_deg:.6f} {r.bound} | "
                     f"{_fmt(r.gap_deg, '.6f')} | {r.time_s:.2f} |")
    return "\n".join(lines)


def summary_markdown(summary: dict) -> str:
    """The end-of-run summary table (one row per method)."""
    lines = ["| method | cases | on table | within 1e-4 deg of best known | worst ratio (case) "
             "| median time (s) | largest gap to bound (case) |",
             "|---|---|---|---|---|---|---|"]
    for method, s in summary.items():
        worst = ("-" if s["worst_ratio"] is None
                 else f"{s['worst_ratio']:.8f} ({s['worst_case']}: {s['worst_angle_deg']:.6f} "
                      f"vs {s['worst_best_known_deg']:.6f})")
        gap = ("-" if s["largest_gap_deg"] is None
               else f"{s['largest_gap_deg']:.4f} deg ({s['largest_gap_case']})")
        failed = f" ({s['failed']} failed)" if s["failed"] else ""
        lines.append(f"| {method} | {s['cases']}{failed} | {s['tabulated']} | "
                     f"{s['within_tol']}/{s['tabulated']} | {worst} | "
                     f"{_fmt(s['median_time_s'], '.2f')} | {gap} |")
    return "\n".join(lines)


def write_csv(results: list[CaseResult], path, *, force: bool = False) -> Path:
    """Write one row per case (atomic; refuses to overwrite without ``force``)."""
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS, lineterminator="\n")
            writer.writeheader()
            for r in results:
                writer.writerow({k: ("" if v is None else v) for k, v in r.row().items()})
    return Path(path)


def to_json(results: list[CaseResult], summary: dict, meta: dict | None = None) -> dict:
    return {"meta": meta or {}, "cases": [r.row() for r in results], "summary": summary}


def write_json(results, summary, path, *, meta=None, force: bool = False) -> Path:
    with atomic_path(path, force=force) as tmp:
        Path(tmp).write_text(json.dumps(to_json(results, summary, meta), indent=2,
                                        default=str) + "\n", encoding="utf-8")
    return Path(path)


def plot(results: list[CaseResult], path, *, table=None, lp: bool = True,
         force: bool = False) -> Path:
    """Angle vs N per method, one panel per dimension, with the best-known curve and the
    bound curves (simplex/Rankin, Fejes Toth for D=3, Delsarte LP). Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise InputError("--plot needs matplotlib (pip install 'protogen[plot]')") from None
    if not isinstance(table, dict):
        table = load_table(table)
    dims = sorted({r.dim for r in results})
    fig, axes = plt.subplots(1, len(dims), figsize=(6 * len(dims), 4.5), squeeze=False)
    for ax, dim in zip(axes[0], dims):
        rows = [r for r in results if r.dim == dim]
        ns = sorted({r.num_points for r in rows})
        for method in dict.fromkeys(r.method for r in rows):
            pts = [(r.num_points, r.min_angle_deg) for r in rows
                   if r.method == method and r.min_angle_deg is not None]
            if pts:
                ax.plot(*zip(*pts), "o", ms=4, label=method, alpha=0.8)
        best = [(n, table[(dim, n)].min_angle_deg) for n in ns if (dim, n) in table]
        if best:
            ax.plot(*zip(*best), "k-", lw=1, label="best known")
        ax.plot(ns, [min(_bounds.simplex_bound_deg(n), _bounds.rankin_bound_deg(n, dim)[0])
                     for n in ns], "--", lw=1, label="simplex / Rankin")
        if dim == 3:
            ax.plot(ns, [_bounds.fejes_toth_bound_deg(n) for n in ns], ":", lw=1.2,
                    label="Fejes Toth")
        if lp:
            ax.plot(ns, [_bounds.delsarte_lp_bound_deg(n, dim) for n in ns], "-.", lw=1,
                    label="Delsarte LP")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"D = {dim}")
        ax.set_xlabel("number of points N")
        ax.set_ylabel("min angle (degrees)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return path

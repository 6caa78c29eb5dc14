"""What ``protogen solve`` and ``protogen info`` both print: how far a code can be from optimal
(simplex, Rankin, Fejes Tóth and Delsarte LP upper bounds, the best-known angle of the shipped
table) and which known construction it is."""

from __future__ import annotations

import click

# Upper bounds of bounds.certificate, in the order printed: (its key, the label shown).
_BOUNDS = (("simplex", "simplex bound"), ("rankin", "Rankin bound"),
           ("fejes_toth", "Fejes Toth bound"), ("delsarte_lp", "LP bound"))
# File attributes / Result metadata written by protogen.solvers.known and solve().
CONSTRUCTION_KEYS = ("construction", "construction_how", "construction_status",
                     "construction_source", "construction_citation", "auto_choice",
                     "auto_solver_method", "auto_solver_min_angle_deg", "auto_construction",
                     "auto_construction_min_angle_deg", "time_limit_reached",
                     "restarts_completed")


def gap_report(num: int, dim: int, min_angle_deg: float) -> dict:
    """Every upper bound (``<name>_bound_deg``) and the best-known angle with the code's gap to
    each (``gap_to_...``, degrees; >= 0 up to round-off for a bound, < 0 beats the record).
    The Delsarte LP bound is a certified upper bound (:func:`protogen.bounds.certificate`,
    cached in the process; about a second on a loaded 2-core machine for K up to 10^4 and D up
    to 512)."""
    from protogen.bounds import certificate

    cert = certificate(int(num), int(dim))
    out: dict = {}
    for key, _ in _BOUNDS:
        if key in cert:
            out[f"{key}_bound_deg"] = cert[key]
            out[f"gap_to_{key}_bound_deg"] = cert[key] - min_angle_deg
    out["rankin_bound_strict"] = cert["rankin_strict"]
    out["upper_bound_deg"] = cert["best"]
    out["upper_bound"] = cert["best_bound"]
    out["best_known_deg"] = cert["best_known_deg"]
    if cert["best_known_deg"] is not None:
        out["gap_to_best_known_deg"] = cert["best_known_deg"] - min_angle_deg
        out["best_known_status"] = cert["best_known_status"]
        out["best_known_source"] = cert["best_known_source"]
    return out


def construction_report(attributes: dict) -> dict:
    """The construction/auto/time-limit attributes present in ``attributes``."""
    return {k: attributes[k] for k in CONSTRUCTION_KEYS if k in attributes}


def _gap(value: float) -> str:
    return f"{0.0 if abs(value) < 5e-10 else value:.6f}"  # no "-0.000000" for a tie


def print_gap(report: dict, indent: str = "  ") -> None:
    """The bound lines: ``label  value deg (gap ...)``, then the best-known line."""
    num, dim = report["num_classes"], report["dim"]
    for key, label in _BOUNDS:
        if f"{key}_bound_deg" not in report or (key == "rankin" and num <= dim + 1):
            continue
        note = "; certified Delsarte-Goethals-Seidel" if key == "delsarte_lp" else ""
        click.echo(f"{indent}{label:<17} {report[key + '_bound_deg']:.6f} deg "
                   f"(gap {_gap(report['gap_to_' + key + '_bound_deg'])}{note})")
    if report.get("best_known_deg") is not None:
        click.echo(f"{indent}{'best known':<17} {report['best_known_deg']:.6f} deg "
                   f"(gap {_gap(report['gap_to_best_known_deg'])}; "
                   f"{report['best_known_status']}, {report['best_known_source']})")


def print_construction(report: dict, indent: str = "  ") -> None:
    """Which construction the code is (with its citation), auto's choice, and a time limit."""
    if "construction" in report and "construction_how" in report:
        click.echo(f"{indent}{'construction':<17} {report['construction']} "
                   f"({report['construction_how']}: {report['construction_source']}; "
                   f"{report['construction_status']})")
        click.echo(f"{indent}{'  citation':<17} {report['construction_citation']}")
    if report.get("auto_choice") == "construction":
        click.echo(f"{indent}{'auto':<17} the construction's "
                   f"{report['auto_construction_min_angle_deg']:.6f} deg beat the "
                   f"{report['auto_solver_method']} solver's "
                   f"{report['auto_solver_min_angle_deg']:.6f} deg")
    elif report.get("auto_choice") == "solver":
        click.echo(f"{indent}{'auto':<17} the {report['auto_solver_method']} solver beat the "
                   f"best construction that fits ({report['auto_construction']}, "
                   f"{report['auto_construction_min_angle_deg']:.6f} deg)")
    if report.get("time_limit_reached"):
        line = "reached: the best code found within it"
        if report.get("restarts_completed") == 0:
            line += " (too short for even one start to finish: the best partially annealed start)"
        click.echo(f"{indent}{'time limit':<17} {line}")

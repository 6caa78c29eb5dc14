"""``protogen bench``: run solvers over (D, N) cases and compare with best-known codes and bounds."""

from __future__ import annotations

import click

from protogen.cli import main
from protogen.cli._common import (echo_json, force_option, handle_errors, json_option,
                                  quiet_option, seed_option)


@main.command()
@click.option("--dims", default="3", show_default=True,
              help="Dimensions: a list and/or ranges, e.g. 3,4,5 or 3-5.")
@click.option("--points", default="4-30", show_default=True,
              help="Numbers of points N, e.g. 4-30 or 4-10,12,24.")
@click.option("--methods", default="auto", show_default=True,
              help="Comma-separated solvers: auto, closed-form, gradient, memetic, evolutionary, "
                   "hpn-sgd, energy.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds per case and method [default: the solver's own stopping rule].")
@seed_option
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
              help="Best-known table (CSV: dim,num_points,min_angle_deg,status,source) "
                   "[default: the shipped one].")
@click.option("--only-tabulated", is_flag=True, help="Skip cases the table does not have.")
@click.option("--no-lp", is_flag=True,
              help="Skip the Delsarte LP bound (about 1-2 s per case); use simplex/Rankin/"
                   "Fejes Toth only.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="A case matches the best known when within this many degrees.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write one CSV row per case and method.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Figure: angle vs N per method with best-known and bound curves "
                   "(needs matplotlib).")
@force_option
@quiet_option
@json_option
@handle_errors
def bench(dims, points, methods, time_limit, seed, table_path, only_tabulated, no_lp, tolerance,
          out, plot_path, force, quiet, as_json):
    """Benchmark solvers against best-known codes and proven upper bounds.

    Per case: the min angle found, its ratio to the best-known angle (1 = the record), whether
    it is within --tolerance degrees of it, the best upper bound and the gap to it, and the time.
    A markdown summary per method closes the report.
    """
    import datetime
    import platform

    from protogen import bench as lib
    from protogen.io import check_writable

    dim_list = lib.parse_int_list(dims, "--dims")
    point_list = lib.parse_int_list(points, "--points")
    method_list = lib.parse_methods(methods)
    table = lib.load_table(table_path)
    for path in (out, plot_path):
        if path:  # refuse a clobber before spending solver time
            check_writable(path, force=force)
    if plot_path and not str(plot_path).lower().endswith((".png", ".pdf", ".svg")):
        from protogen.errors import InputError

        raise InputError(f"--plot: use a .png, .pdf or .svg file name, not {plot_path}")

    def show(res):
        # tqdm.write keeps the per-case lines above the progress bar.
        from tqdm import tqdm

        if as_json:
            return
        if res.error:
            tqdm.write(f"D={res.dim:<3} N={res.num_points:<5} {res.method:<12} error: {res.error}")
            return
        best = "" if res.best_known_deg is None else (
            f" best {res.best_known_deg:.7f} ratio {res.ratio:.8f}"
            f"{'' if res.within_tol else ' (below)'}")
        tqdm.write(f"D={res.dim:<3} N={res.num_points:<5} {res.method:<12} "
                   f"angle {res.min_angle_deg:.7f}{best} bound {res.upper_bound_deg:.5f} "
                   f"({res.bound}) gap {res.gap_deg:.5f} {res.time_s:.2f}s")

    results = lib.run_bench(dim_list, point_list, method_list, seed=seed, time_limit=time_limit,
                            table=table, lp=not no_lp, tolerance_deg=tolerance,
                            progress=not quiet and not as_json, only_tabulated=only_tabulated,
                            callback=show)
    summary = lib.summarize(results, tolerance)
    meta = {"dims": dim_list, "points": point_list, "methods": method_list, "seed": seed,
            "time_limit": time_limit, "tolerance_deg": tolerance,
            "table": str(table_path or lib.default_table_path()),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.processor() or platform.machine()}
    if out:
        if str(out).lower().endswith(".json"):
            lib.write_json(results, summary, out, meta=meta, force=force)
        else:
            lib.write_csv(results, out, force=force)
    if plot_path:
        lib.plot(results, plot_path, table=table, lp=not no_lp, force=force)
    if as_json:
        echo_json({**lib.to_json(results, summary, meta), "out": out, "plot": plot_path})
        return
    click.echo("")
    click.echo(lib.summary_markdown(summary))
    if out:
        click.echo(f"\nwrote {out}")
    if plot_path:
        click.echo(f"wrote {plot_path}")

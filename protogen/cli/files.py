"""``protogen info``, ``protogen export`` and ``protogen import``: the prototype file's tools."""

from __future__ import annotations

import click

from protogen.cli import main
from protogen.cli._common import echo_json, force_option, handle_errors, json_option


def file_report(pset) -> dict:
    """Metadata of a prototype file plus its metrics recomputed from the coordinates and the
    certified gap: the upper bounds and the best-known angle for its (K, D), with the code's
    gap to each (:func:`protogen.cli._report.gap_report`)."""
    from protogen.cli._report import gap_report
    from protogen.sphere import summary

    recomputed = summary(pset.prototypes)
    report = {"path": pset.path, "num_classes": pset.num_classes, "dim": pset.dim,
              "attributes": dict(sorted(pset.attrs.items())),
              "recomputed": recomputed,
              "bounds": gap_report(pset.num_classes, pset.dim, recomputed["min_angle_deg"]),
              "class_names": pset.class_names,
              "datasets": {k: list(v.shape) for k, v in pset.datasets.items()}}
    if "class_vectors" in pset.datasets:
        from protogen.terms.semantic import semantic_metrics

        report["semantic"] = semantic_metrics(pset.datasets["class_vectors"], pset.prototypes)
    return report


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@handle_errors
def info(path, as_json):
    """Validate a prototype file and print its metadata, metrics and certified gap."""
    from protogen.cli._report import print_gap
    from protogen.io import load_prototypes

    report = file_report(load_prototypes(path))
    if as_json:
        echo_json(report)
        return
    click.echo(f"{path}: valid protogen prototype file, {report['num_classes']} prototypes in "
               f"{report['dim']} dimensions")
    for key, value in report["attributes"].items():
        click.echo(f"  {key:<22} {value}")
    click.echo("  recomputed from the coordinates:")
    for key, value in report["recomputed"].items():
        click.echo(f"    {key:<20} {value:.8g}")
    click.echo("  how far from optimal (upper bounds, best known; gap = bound - min angle):")
    print_gap({"num_classes": report["num_classes"], "dim": report["dim"], **report["bounds"]},
              indent="    ")
    if report.get("semantic"):
        click.echo("  semantic agreement with the stored class vectors:")
        for key, value in report["semantic"].items():
            click.echo(f"    {key:<20} {value:.6g}")
    names = report["class_names"]
    if names:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        click.echo(f"  class names            {shown}")


@main.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--to", "fmt", type=click.Choice(["npy", "csv", "txt"]), required=True,
              help="npy = HPN's array, csv = one prototype per row, txt = Sloane's format.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Output file [default: PATH with the new suffix].")
@force_option
@handle_errors
def export_cmd(path, fmt, out, force):
    """Write a prototype file's coordinates as npy, csv or Sloane's txt."""
    from pathlib import Path

    from protogen.io import export_prototypes, load_prototypes

    pset = load_prototypes(path)
    out = Path(out) if out else Path(path).with_suffix(f".{fmt}")
    export_prototypes(pset, out, fmt, force=force)
    click.echo(f"wrote {out} ({pset.num_classes} x {pset.dim}, {fmt})")


@main.command("import")
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Prototype file to write.")
@click.option("--format", "fmt", type=click.Choice(["npy", "csv", "txt"]), default=None,
              help="Input format [default: from the suffix].")
@click.option("--dim", type=click.IntRange(min=2), default=None,
              help="Dimension (needed for Sloane's txt format).")
@click.option("--names", default=None, help="Class names (file or bundled list).")
@click.option("--normalize", is_flag=True, help="Normalise rows instead of rejecting non-unit ones.")
@force_option
@handle_errors
def import_cmd(src, out, fmt, dim, names, normalize, force):
    """Make a validated prototype file from npy, csv or Sloane's txt coordinates."""
    from protogen.data import read_class_names
    from protogen.io import import_prototypes, load_prototypes

    class_names = read_class_names(names) if names else None
    import_prototypes(src, out, fmt=fmt, dim=dim, class_names=class_names, normalize=normalize,
                      force=force)
    pset = load_prototypes(out)
    click.echo(f"wrote {out} ({pset.num_classes} x {pset.dim}, min angle "
               f"{pset.attrs['min_angle_deg']:.6f} deg)")

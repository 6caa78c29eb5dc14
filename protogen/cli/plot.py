"""``protogen plot``: pictures of a prototype file (a spherical code) or of a training run."""

from __future__ import annotations

from pathlib import Path

import click

from protogen.cli import main
from protogen.cli._common import force_option, handle_errors
from protogen.errors import InputError


@main.command("plot")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the PNG files [default: next to the file / the run "
                   "directory].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Device for a run's test outputs.")
@force_option
@handle_errors
def plot_command(path, out_dir, device, force):
    """Pictures of a prototype file or a training run, as PNG files.

    A prototype file P.h5: P-angles.png (histograms of pairwise and nearest-neighbour angles
    with the upper bounds and the best-known angle), P-sphere.png for D = 3 (the points and
    their contact graph) and, for a semantic solve (stored class vectors), P-semantic.png
    (prototype and word-vector similarities side by side).

    A run directory: training curves (curves.png) and, for 2-D/3-D outputs, the test outputs
    on the sphere coloured by class and by regression value (outputs.png, like seed 000 Fig. 6).
    """
    if path.is_dir():
        from protogen.train.plots import plot_run

        written = plot_run(path, out_dir=out_dir, device=device, force=force)
    elif path.is_file():
        from protogen.codeplot import plot_code
        from protogen.io import load_prototypes

        pset = load_prototypes(path)
        target = out_dir if out_dir is not None else path.parent
        if out_dir is not None and not out_dir.is_dir():
            raise InputError(f"{out_dir}: no such directory")
        written = plot_code(pset.prototypes, target, path.stem,
                            class_vectors=pset.datasets.get("class_vectors"),
                            names=pset.class_names, force=force)
    else:
        raise InputError(f"{path}: no such prototype file or run directory")
    for written_path in written:
        click.echo(f"wrote {written_path}")

"""``protogen solve``: place K prototypes in D dimensions and write the prototype file."""

from __future__ import annotations

import click

from protogen.cli import main
from protogen.cli._common import (echo_json, fail, force_option, handle_errors, json_option,
                                  quiet_option, seed_option)
from protogen.errors import InputError
from protogen.solvers.registry import SOLVERS


def parse_options(pairs: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs to solver keyword arguments (ints, floats, booleans, strings)."""
    options = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise InputError(f"--option expects KEY=VALUE, got {pair!r}")
        value: object = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lower() in ("none", "null"):
            value = None  # let the solver choose (a parameter whose default is None)
        else:
            for cast in (int, float):
                try:
                    value = cast(raw)
                    break
                except ValueError:
                    pass
        options[key] = value
    return options


def solve_summary(result, metrics: dict) -> dict:
    """The figures printed after a solve (and by ``--json``): metrics, the upper bounds with
    the code's gap to each, the best-known angle, the construction used and the term report."""
    from protogen.cli._report import construction_report, gap_report

    num, dim = result.prototypes.shape
    out = {
        "method": result.method,
        "num_classes": num,
        "dim": dim,
        "seed": result.seed,
        "time_s": round(result.elapsed_s, 3),
        **metrics,
        **gap_report(num, dim, metrics["min_angle_deg"]),
        **construction_report(result.metadata),
    }
    out.update(term_report(result.metadata))
    return out


def term_report(metadata: dict) -> dict:
    """What the objective terms wrote: solve()'s own keys, then each term's prefixed keys."""
    from protogen.solvers import TERM_KEYS

    names = [n for n in str(metadata.get("terms", "")).split(",") if n]
    return {k: v for k, v in metadata.items()
            if k in TERM_KEYS or any(k.startswith(n + "_") for n in names)}


def print_summary(summary: dict, path) -> None:
    from protogen.cli._report import print_construction, print_gap

    click.echo(f"wrote {path}")
    click.echo(f"  method            {summary['method']} ({summary['num_classes']} prototypes in "
               f"{summary['dim']} dimensions, seed {summary['seed']})")
    click.echo(f"  min angle         {summary['min_angle_deg']:.6f} deg")
    click.echo(f"  max cosine        {summary['max_cosine']:.8f}")
    click.echo(f"  mean NN angle     {summary['mean_nn_angle_deg']:.6f} deg")
    click.echo(f"  Riesz s=1 energy  {summary['riesz1_energy']:.6g}   log energy "
               f"{summary['log_energy']:.6g}")
    if "energy_s" in summary:
        click.echo(f"  Riesz s={summary['energy_s']:g} energy  {summary['energy']:.6g}")
    click.echo(f"  time              {summary['time_s']:.2f} s")
    print_gap(summary)
    print_construction(summary)
    for key, value in term_report(summary).items():
        if value not in ("", None, "[]"):
            shown = f"{value:.6g}" if isinstance(value, float) else value
            click.echo(f"  {key:<17} {shown}")


@main.command()
@click.option("--classes", "-k", "num_classes", type=click.IntRange(min=2),
              help="Number of prototypes K (taken from --names when given).")
@click.option("--dim", "-d", type=click.IntRange(min=2), required=True,
              help="Dimension D of the output space.")
@click.option("--method", "-m", default="auto", show_default=True,
              type=click.Choice(list(SOLVERS)), help="Solver: " + "; ".join(
                  f"{s.name} = {s.summary}" for s in SOLVERS.values()) + ".")
@click.option("--energy", "energy_s", type=click.FloatRange(min=0), default=None,
              help="Riesz exponent s for --method energy (0 = logarithmic).")
@click.option("--half-space", is_flag=True, help="Energy of the prototypes and their antipodes.")
@click.option("--angular", is_flag=True, help="Energy of angles instead of chord distances.")
@seed_option
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop the solver after this many seconds.")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Solver parameter, e.g. -o population=500 -o generations=50 (checked "
                   "against the method's declared parameters; 'none' = the solver's choice).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Where torch solvers run (gradient, search, neighbours, hpn-sgd, energy); "
                   "auto = CUDA when present [default: each method's own].")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output file [default: prototypes-{K}c-{D}d.h5].")
@click.option("--names", default=None,
              help="Class names: a file with one per line, or cifar10 / cifar100 / mnist.")
@click.option("--word-vectors", default=None,
              help="Word vectors for the class names: glove-6b-50d or a word2vec/GloVe/gensim file.")
@click.option("--allow-pickle", is_flag=True,
              help="Let --word-vectors read gensim's native .kv/.model/.wv/.pkl files: Python "
                   "pickles, which can run code when loaded. Only for files you trust.")
@click.option("--semantic-weight", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Weight of the semantic term (with --word-vectors).")
@click.option("--semantic-loss", type=click.Choice(["spearman", "ranking"]), default="spearman",
              show_default=True,
              help="Gradient solvers' semantic loss: our rank-correlation surrogate, or the "
                   "official HPN ranking (triplet) loss over --neighbours word-nearest classes.")
@click.option("--neighbours", type=click.IntRange(min=1), default=5, show_default=True,
              help="Word-nearest classes per class of the ranking loss.")
@click.option("--init", "init_mode", type=click.Choice(["pca", "random"]), default="pca",
              show_default=True, help="Start from the PCA of the word vectors, or at random.")
@click.option("--oov", type=click.Choice(["error", "mean", "random"]), default="error",
              show_default=True, help="What to do with class names missing from the vectors.")
@click.option("--hierarchy", default=None,
              help="Super-class hierarchy (cifar100 or a JSON/CSV file): groups stay together.")
@force_option
@quiet_option
@json_option
@handle_errors
def solve(num_classes, dim, method, energy_s, half_space, angular, seed, time_limit, options,
          out, names, word_vectors, allow_pickle, semantic_weight, semantic_loss, neighbours,
          init_mode, oov, hierarchy, device,
          force, quiet, as_json):
    """Place K prototypes on the sphere in D dimensions and save them to an HDF5 file."""
    from pathlib import Path

    from protogen.data import read_class_names
    from protogen.io import check_writable, save_result
    from protogen.solvers import solve as run_solve
    from protogen.sphere import summary

    class_names = read_class_names(names) if names else None
    if class_names is not None:
        if num_classes is not None and num_classes != len(class_names):
            fail(f"--classes {num_classes} disagrees with {len(class_names)} names in {names}")
        num_classes = len(class_names)
    if num_classes is None:
        fail("give --classes K or --names FILE")
    if (word_vectors or hierarchy) and class_names is None:
        fail("--word-vectors and --hierarchy need --names")
    solver_options = parse_options(options)
    if device is not None:
        if "device" in solver_options:
            fail("give the device once: --device or -o device=...")
        solver_options["device"] = device
    if method == "energy":
        solver_options.setdefault("s", 1.0 if energy_s is None else energy_s)
        solver_options.setdefault("half_space", half_space)
        solver_options.setdefault("angular", angular)
    elif energy_s is not None or half_space or angular:
        fail("--energy, --half-space and --angular apply to --method energy only")
    out = Path(out or f"prototypes-{num_classes}c-{dim}d.h5")
    # Refuse a clobber or an unwritable target before spending solver time on it.
    check_writable(out, force=force)

    terms = []
    if word_vectors:
        from protogen.terms.semantic import SemanticTerm

        terms.append(SemanticTerm(word_vectors, weight=semantic_weight, init=init_mode, oov=oov,
                                  allow_pickle=allow_pickle, semantic_loss=semantic_loss,
                                  neighbours=neighbours))
    if hierarchy:
        from protogen.terms.hierarchy import HierarchyTerm

        terms.append(HierarchyTerm(hierarchy))
    # With terms, the plain solve runs too: its minimum angle is the cost reference.
    result = run_solve(num_classes, dim, method, terms=terms, seed=seed, time_limit=time_limit,
                       progress=not quiet, class_names=class_names, reference=bool(terms) or None,
                       **solver_options)
    metrics = summary(result.prototypes)
    if method == "energy":
        s = solver_options["s"]
        metrics["energy_s"] = s
        from protogen.energies import code_energy

        metrics["energy"] = code_energy(result.prototypes, s,
                                        half_space=solver_options["half_space"],
                                        angular=solver_options["angular"])
        result.metadata.update({"energy_s": s, "energy": metrics["energy"]})
    save_result(result, out, force=force)
    report = solve_summary(result, metrics)
    if as_json:
        echo_json({"out": str(out), **report})
    else:
        print_summary(report, out)


"""Semantic trade-off on CIFAR-100: minimum angle vs agreement with GloVe, EA and gradient.

For every output dimension D and semantic weight λ, prototypes for the 100 CIFAR-100 class names
are solved with the PCA initialisation of the GloVe 6B 50d class vectors, once by the
evolutionary algorithm (inverse rank-distance fitness term, seed 000 §2.1) and once by the
annealed gradient solver (rank-correlation surrogate). Each row also gives the plain solve
(no word vectors, random start) of the same method as the reference minimum angle.

    python benchmarks/semantic.py                    # full table, rewrites RESULTS.md section
    python benchmarks/semantic.py --dims 10 --weights 0,10 --no-write   # a quick look

EA and gradient settings are deliberately modest (see --ea-* / --grad-*) so the whole table runs
in tens of minutes on a laptop; the paper's EA (population 3000, 300 generations) would take hours.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch threads fight other jobs on small hosts

import numpy as np  # noqa: E402
from _common import command_line, machine, replace_section, utc_now  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PLOT = HERE / "semantic_tradeoff.png"


def run(dims, weights, args):
    import torch

    from protogen.data import read_class_names
    from protogen.semantics import class_vectors, load_word_vectors
    from protogen.solvers import solve
    from protogen.sphere import min_angle_deg
    from protogen.terms.semantic import SemanticTerm, spearman

    torch.set_num_threads(1)
    names = read_class_names("cifar100")
    kv, source = load_word_vectors(args.word_vectors, allow_pickle=args.allow_pickle)
    vectors = class_vectors(names, kv)
    methods = {
        "evolutionary": dict(population=args.ea_population, generations=args.ea_generations,
                             offspring_per_pair=args.ea_offspring, init_noise=0.1),
        "gradient": dict(iterations=args.grad_iterations, restarts=args.grad_restarts),
    }
    rows = []
    for dim in dims:
        for method, options in methods.items():
            if method not in args.methods:
                continue
            t = time.perf_counter()
            plain = solve(len(names), dim, method, seed=args.seed, progress=False, **options)
            plain_angle = min_angle_deg(plain.prototypes)
            plain_spear = spearman(vectors, plain.prototypes)
            print(f"D={dim:<3} {method:<13} plain        min angle {plain_angle:8.3f}  "
                  f"spearman {plain_spear:+.3f}  ({time.perf_counter() - t:.0f} s)", flush=True)
            for weight in weights:
                t = time.perf_counter()
                res = solve(len(names), dim, method, terms=[SemanticTerm(kv, weight=weight)],
                            class_names=names, seed=args.seed, progress=False, **options)
                meta = res.metadata
                angle = min_angle_deg(res.prototypes)
                row = dict(dim=dim, method=method, weight=weight, min_angle=angle,
                           plain_angle=plain_angle, plain_spearman=plain_spear,
                           cost_pct=100 * (plain_angle - angle) / plain_angle,
                           spearman=meta["semantic_spearman"],
                           rank_distance=meta["semantic_rank_distance"],
                           knn=meta["semantic_knn_overlap"], time_s=time.perf_counter() - t)
                rows.append(row)
                print(f"D={dim:<3} {method:<13} λ={weight:<9g} min angle {angle:8.3f}  "
                      f"spearman {row['spearman']:+.3f}  cost {row['cost_pct']:5.1f}%  "
                      f"({row['time_s']:.0f} s)", flush=True)
    return rows, source


def table(rows) -> str:
    lines = ["| D | λ | EA min angle (°) | EA Spearman | gradient min angle (°) | "
             "gradient Spearman | gradient k-NN overlap |",
             "|---|---|---|---|---|---|---|"]
    dims = sorted({r["dim"] for r in rows})
    for dim in dims:
        weights = sorted({r["weight"] for r in rows if r["dim"] == dim})
        for weight in weights:
            cell = {r["method"]: r for r in rows if r["dim"] == dim and r["weight"] == weight}
            ea, gr = cell.get("evolutionary"), cell.get("gradient")

            def fmt(r, key, spec):
                return format(r[key], spec) if r else "–"

            def angle(r):
                return f"{r['min_angle']:.2f} ({-r['cost_pct']:+.1f}%)" if r else "–"

            lines.append(f"| {dim} | {weight:g} | {angle(ea)} | {fmt(ea, 'spearman', '+.3f')} | "
                         f"{angle(gr)} | {fmt(gr, 'spearman', '+.3f')} | "
                         f"{fmt(gr, 'knn', '.3f')} |")
    plain = sorted({(r["dim"], r["method"], r["plain_angle"], r["plain_spearman"]) for r in rows})
    lines += ["", "Reference, the plain solve without word vectors (random start, same settings):",
              ""]
    lines += [f"- D={d} {m}: min angle {a:.2f}°, Spearman {s:+.3f}" for d, m, a, s in plain]
    return "\n".join(lines)


def plot(rows, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'protogen[plot]')")
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = {"evolutionary": "s", "gradient": "o"}
    for dim in sorted({r["dim"] for r in rows}):
        for method in markers:
            sel = sorted((r for r in rows if r["dim"] == dim and r["method"] == method),
                         key=lambda r: r["weight"])
            if not sel:
                continue
            ax.plot([r["spearman"] for r in sel], [-r["cost_pct"] for r in sel],
                    marker=markers[method], label=f"D={dim} {method}")
            for r in sel:
                ax.annotate(f"{r['weight']:g}", (r["spearman"], -r["cost_pct"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
    ax.axhline(-10, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("Spearman: prototype vs GloVe pair similarities")
    ax.set_ylabel("min angle change vs plain solve (%)")
    ax.set_title("CIFAR-100 semantic trade-off (labels: λ)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="3,5,10,25")
    parser.add_argument("--weights", default="0,1,10,100")
    parser.add_argument("--methods", default="evolutionary,gradient")
    parser.add_argument("--word-vectors", default="glove-6b-50d")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="read gensim's native (pickle) formats: trusted files only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ea-population", type=int, default=200)
    parser.add_argument("--ea-generations", type=int, default=30)
    parser.add_argument("--ea-offspring", type=int, default=10)
    parser.add_argument("--grad-iterations", type=int, default=1000)
    parser.add_argument("--grad-restarts", type=int, default=4)
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    parser.add_argument("--note", default="", help="Extra line for the report (e.g. load).")
    args = parser.parse_args(argv)
    dims = [int(d) for d in args.dims.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    start = time.perf_counter()
    rows, source = run(dims, weights, args)
    text = table(rows)
    print(text)
    if args.no_write:
        return
    plotted = plot(rows, PLOT)
    command = command_line(["benchmarks/semantic.py", *(argv or sys.argv[1:])])
    section = [
        "## Semantic prototypes (privileged information, seed 000 §2.1 / Table 3 setting)",
        "",
        f"- date: {utc_now('%Y-%m-%d %H:%M')} UTC; machine: {machine()}; "
        f"total {time.perf_counter() - start:.0f} s",
        f"- command: `{command.strip()}`",
        f"- word vectors: {source}; class names: CIFAR-100 (100); init: PCA; seed {args.seed}",
        f"- EA (modest, not the paper's 3000 x 300): population {args.ea_population}, "
        f"{args.ea_generations} generations, {args.ea_offspring} offspring per pair; "
        f"gradient: {args.grad_iterations} iterations, {args.grad_restarts} restarts",
        "- min angle in parentheses: change against the plain solve of the same method; "
        "Spearman: rank correlation of the 4950 class-pair cosines, prototypes vs GloVe",
    ]
    if args.note:
        section.append(f"- {args.note}")
    section += ["", text]
    if plotted:
        section += ["", f"![trade-off]({PLOT.name})"]
    replace_section("semantic", "\n".join(section), RESULTS)
    print(f"updated {RESULTS}")


if __name__ == "__main__":
    main()

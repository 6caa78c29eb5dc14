"""The official HPN prototype recipe next to protogen's; writes the ``hpn_official`` section of
benchmarks/RESULTS.md (issue 14 item 1).

  a  separation: ``hpn-sgd`` as we run it (1000 epochs, momentum kept, float64, best iterate)
     vs ``-o official=true`` (the official prototypes.py: fresh SGD every epoch, float32,
     10,000 epochs, last iterate) vs protogen's default solver, minimum angle and time;
  b  privileged information on CIFAR-100 (GloVe 6B-50d): the semantic term with our
     rank-correlation surrogate vs the official ranking (triplet) loss, both through the
     ``gradient`` solver and ``hpn-sgd``: Spearman of pair cosines, normalised rank distance,
     minimum angle.

    python benchmarks/hpn_official.py
"""

from __future__ import annotations

import time

from _common import command_line, load_average, machine, markdown_table, replace_section, utc_now

from protogen.data import read_class_names
from protogen.solvers import solve
from protogen.sphere import min_angle_deg
from protogen.terms.semantic import SemanticTerm


def _timed(*args, **kwargs):
    t0 = time.perf_counter()
    result = solve(*args, progress=False, **kwargs)
    return result, time.perf_counter() - t0


def part_a() -> str:
    rows = []
    for k, d in ((100, 25), (100, 50)):
        for label, method, opts in (("hpn-sgd (ours)", "hpn-sgd", {}),
                                    ("hpn-sgd official=true", "hpn-sgd", {"official": True}),
                                    ("gradient (protogen default solver)", "gradient", {})):
            result, seconds = _timed(k, d, method, seed=0, **opts)
            rows.append([k, d, label, f"{min_angle_deg(result.prototypes):.3f}", f"{seconds:.1f}"])
    return markdown_table(["K", "D", "method", "min angle (deg)", "time (s)"], rows)


def part_b() -> str:
    names = read_class_names("cifar100")
    rows = []
    for d in (10, 25):
        for method in ("gradient", "hpn-sgd"):
            for loss in ("spearman", "ranking"):
                term = SemanticTerm("glove-6b-50d", semantic_loss=loss)
                result, seconds = _timed(100, d, method, seed=0, terms=[term], class_names=names)
                m = result.metadata
                rows.append([d, method, loss, f"{m['semantic_spearman']:.3f}",
                             f"{m['semantic_rank_distance']:.3f}",
                             f"{min_angle_deg(result.prototypes):.2f}", f"{seconds:.1f}"])
    return markdown_table(["D", "solver", "semantic loss", "Spearman", "rank distance",
                           "min angle (deg)", "time (s)"], rows)


def main() -> None:
    load = load_average()
    a, b = part_a(), part_b()
    body = (f"## The official HPN prototype recipe vs protogen's (`benchmarks/hpn_official.py`)\n\n"
            f"{utc_now('%Y-%m-%d')}, {machine()}, load average before the run {load}; "
            f"`{command_line()}`.\n\n"
            f"(a) Separation, seed 0:\n\n{a}\n\n"
            f"(b) CIFAR-100 class names with GloVe 6B-50d, λ = 10, seed 0:\n\n{b}\n")
    replace_section("hpn_official", body)
    print(body)


if __name__ == "__main__":
    main()

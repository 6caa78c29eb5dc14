"""SphereNet, MHE and hierarchical regularisation in the trainer; writes the ``layers`` section of
RESULTS.md.

    python benchmarks/layers.py                      # all parts, 3 seeds (about 15 min on 2 cores)
    python benchmarks/layers.py --parts sphere --repeats 2 --epochs 6 --no-write
    # the seeds' settings on full MNIST / Fashion-MNIST training sets (CNN-9; a GPU run):
    python benchmarks/layers.py --dataset mnist --device cuda
    python benchmarks/layers.py --dataset idx:/usr/share/datasets/fashion-mnist --device cuda
    # a quick check on a subset, CPU, the small network:
    python benchmarks/layers.py --dataset mnist --limit-train 2000 --epochs 1 --repeats 1 \
        --model small --no-write

With ``--dataset`` other than digits the parts ``sphere``, ``mhe`` and ``hier`` run the seeds'
methods on that data set's full training set (or ``--limit-train``) with the paper-style CNN-9
(``--model cnn9``: 3×3 conv stages 64/96/128 × 3, seed 001 §4.2; ``--model small``: the
16/32/64 × 1 ``sphere-cnn`` for CPUs); see :func:`real_parts` for the variants and settings.
Each part's table ends with a line saying whether the paper's claim holds in these means.

Parts (same seeds, same data order, same optimiser for every variant of a part):

- ``sphere``: scikit-learn digits (8×8, 1347 train / 450 test), the ``sphere-cnn`` network
  (3 stages 16/32/64 of 3×3 convolutions + BatchNorm + ReLU, then a linear layer to 10
  features). Plain convolution + softmax vs SphereConv operators with the cosine W-Softmax head,
  and sigmoid(0.3) SphereConv with GA-Softmax (m = 4). Test accuracy after the last epoch and
  the first epoch at which test accuracy reaches ``--target`` (seed 001 claims faster
  convergence).
- ``mhe``: the same plain CNN + softmax without and with MHE (seed 002 defaults: s = 2,
  half-space in hidden layers λ_h = 1, output λ_o = 1), trained on a 300-example subset of
  digits where regularisation has a chance to matter.
- ``hier``: a generated data set with a real two-level hierarchy: 4 super-classes × 5
  sub-classes; every super-class has a random centre in 64-d, its sub-classes a centre near it
  (spread 0.6 of the super-class spread), examples are sub-class centre + noise, shaped 1×8×8.
  30 training and 100 test examples per class. An MLP + softmax without and with the
  hierarchical regulariser (seed 003, metrics gm/am/continuous, λ = 0.1) on its classifier.
- ``hier-small``: the same with sub-classes nearer their super-class (spread 0.4) and 8
  training examples per class.
- ``protos``: :class:`protogen.terms.hierarchy.HierarchyTerm` for CIFAR-100 in 25-d: the
  within/between-group angle ratio and the minimum-angle cost against the plain solve.

Per-epoch test accuracies come from each run's metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import command_line, machine, markdown_table, replace_section, utc_now
from _layers_real import load_real, real_parts, verdict

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
RAW = HERE / "results" / "layers.json"


def hierarchical_data(seed: int = 0, supers: int = 4, subs: int = 5, train_per: int = 30,
                      test_per: int = 100, dim: int = 64, spread: float = 0.6):
    from protogen.train.data import DataSet, Split

    rng = np.random.default_rng(seed)
    super_c = rng.standard_normal((supers, dim)) * 1.0
    centres, names, hierarchy = [], [], {}
    for g in range(supers):
        hierarchy[f"super{g}"] = []
        for s in range(subs):
            centres.append(super_c[g] + spread * rng.standard_normal(dim))
            names.append(f"g{g}s{s}")
            hierarchy[f"super{g}"].append(names[-1])
    centres = np.array(centres)

    def split(per):
        y = np.repeat(np.arange(len(centres)), per)
        x = centres[y] + 1.2 * rng.standard_normal((len(y), dim))
        return Split(x.reshape(-1, 1, 8, 8).astype(np.float32), y.astype(np.int64))

    train, test = split(train_per), split(test_per)
    return DataSet("hier-synthetic", train, test, names, len(names)), hierarchy


def run(config_kwargs: dict, data=None) -> list[float]:
    from protogen.train import TrainConfig, read_metrics, train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(**config_kwargs)
        train(cfg, Path(tmp) / "run", progress=False, log=None, data=data)
        return [float(r["test_accuracy"]) for r in read_metrics(Path(tmp) / "run")]


def summarise(curves: list[list[float]], target: float) -> dict:
    finals = [c[-1] for c in curves]
    reach = [next((i + 1 for i, a in enumerate(c) if a >= target), None) for c in curves]
    got = [r for r in reach if r is not None]
    return {"final_mean": float(np.mean(finals)), "final_std": float(np.std(finals)),
            "reach_mean": float(np.mean(got)) if got else None,
            "reach_std": float(np.std(got)) if got else None,
            "reached": len(got), "runs": len(curves), "curves": curves}


def part_sphere(seeds, epochs, target):
    from protogen.train.data import load_dataset

    data = load_dataset("digits")
    base = dict(dataset="digits", model="sphere-cnn", epochs=epochs, optimizer="adam",
                batch_size=64, device="cpu", threads=1)
    variants = [
        ("plain conv + softmax", dict(loss="softmax", model_options={"sphere_op": "none"})),
        ("cosine SphereConv + cosine W-Softmax",
         dict(loss="w-softmax", model_options={"sphere_op": "cosine"})),
        ("linear SphereConv + cosine W-Softmax",
         dict(loss="w-softmax", model_options={"sphere_op": "linear"})),
        ("sigmoid(0.3) SphereConv + cosine W-Softmax",
         dict(loss="w-softmax", model_options={"sphere_op": "sigmoid", "k": 0.3})),
        ("learnable sigmoid SphereConv + cosine W-Softmax",
         dict(loss="w-softmax", model_options={"sphere_op": "learnable-sigmoid"})),
        ("sigmoid(0.3) SphereConv + GA-Softmax m=4",
         dict(loss="ga-softmax", head_options={"margin": 4.0},
              model_options={"sphere_op": "sigmoid", "k": 0.3})),
        ("cosine SphereConv + softmax + orth 1e-3",
         dict(loss="softmax", model_options={"sphere_op": "cosine"},
              regularizers={"orth": 1e-3})),
    ]
    out = {}
    for name, extra in variants:
        curves = [run({**base, **extra, "seed": s}, data) for s in seeds]
        out[name] = summarise(curves, target)
        print(f"  {name}: {out[name]['final_mean']:.4f} ± {out[name]['final_std']:.4f}",
              flush=True)
    return out


def part_mhe(seeds, epochs, target):
    from protogen.train.data import load_dataset

    base = dict(dataset="digits", model="sphere-cnn", loss="softmax", epochs=epochs,
                optimizer="sgd", lr=0.05, batch_size=32, device="cpu", threads=1,
                model_options={"sphere_op": "none"})
    variants = [("without MHE", {}),
                ("MHE s=2, half-space hidden λ_h=1, output λ_o=1",
                 {"regularizers": {"mhe": "s=2,hidden=1,output=1,half-space"}}),
                ("MHE s=2, full space hidden λ_h=10, output λ_o=1",
                 {"regularizers": {"mhe": "s=2,hidden=10,output=1"}})]
    out = {}
    for name, extra in variants:
        curves = []
        for s in seeds:
            data = load_dataset("digits", seed=0, limit_train=300)
            curves.append(run({**base, **extra, "seed": s}, data))
        out[name] = summarise(curves, target)
        print(f"  {name}: {out[name]['final_mean']:.4f} ± {out[name]['final_std']:.4f}",
              flush=True)
    return out


def part_hier(seeds, epochs, target, train_per: int = 30, spread: float = 0.6):
    data, hierarchy = hierarchical_data(seed=0, train_per=train_per, spread=spread)
    path = Path(tempfile.mkdtemp()) / "hierarchy.json"
    path.write_text(json.dumps(hierarchy))
    base = dict(dataset="hier-synthetic", model="mlp", loss="softmax", epochs=epochs,
                optimizer="sgd", lr=0.05, batch_size=32, device="cpu", threads=1,
                model_options={"hidden": 64})
    variants = [("without hierarchy", {})] + [
        (f"hierarchical regulariser ({m})",
         {"regularizers": {"hierarchy": str(path), "hier_metric": m}})
        for m in ("gm", "am", "continuous")]
    out = {}
    for name, extra in variants:
        curves = [run({**base, **extra, "seed": s}, data) for s in seeds]
        out[name] = summarise(curves, target)
        print(f"  {name}: {out[name]['final_mean']:.4f} ± {out[name]['final_std']:.4f}",
              flush=True)
    return out


def part_protos(seeds, epochs, target):
    """Hierarchy-aware prototypes for CIFAR-100 (K = 100, D = 25) against the plain solve."""
    from protogen.data import read_class_names
    from protogen.solvers import solve
    from protogen.sphere import min_angle_deg
    from protogen.terms.hierarchy import HierarchyTerm

    t0 = time.perf_counter()
    r = solve(100, 25, terms=[HierarchyTerm("cifar100")],
              class_names=read_class_names("cifar100"), seed=0, progress=False)
    out = {k: v for k, v in r.metadata.items() if k.startswith("hierarchy_")}
    out.update(hierarchy_min_angle_deg=min_angle_deg(r.prototypes),
               hierarchy_plain_min_angle_deg=r.metadata["plain_min_angle_deg"],
               hierarchy_min_angle_cost=r.metadata["min_angle_cost_pct"] / 100,
               hierarchy_stage=r.metadata["term_stage"])
    out["seconds"] = time.perf_counter() - t0
    print(f"  ratio {out['hierarchy_ratio']:.4f}, min angle {out['hierarchy_min_angle_deg']:.3f} "
          f"(plain {out['hierarchy_plain_min_angle_deg']:.3f})", flush=True)
    return out


def part_real(part: str, dataset: str, seeds, epochs: int, target: float, *, model: str,
              device: str, limit_train=None, limit_test=None, threads: int = 1) -> dict:
    data, hierarchy = load_real(dataset, limit_train, limit_test)
    path = Path(tempfile.mkdtemp()) / "hierarchy.json"
    path.write_text(json.dumps(hierarchy))
    spec = real_parts(model)[part]
    out = {}
    for name, extra in spec["variants"]:
        cfg = {**spec["base"], **extra, "dataset": dataset, "epochs": epochs, "device": device,
               "threads": threads}
        regs = dict(cfg.get("regularizers", {}))
        if regs.get("hierarchy") == "HIER":
            regs["hierarchy"] = str(path)
            cfg["regularizers"] = regs
        t0 = time.perf_counter()
        curves = [run({**cfg, "seed": s}, data) for s in seeds]
        out[name] = summarise(curves, target)
        out[name]["seconds_per_run"] = (time.perf_counter() - t0) / len(seeds)
        print(f"  {name}: {out[name]['final_mean']:.4f} ± {out[name]['final_std']:.4f} "
              f"({out[name]['seconds_per_run']:.0f} s per run)", flush=True)
    return out


def _fmt_reach(r: dict, epochs: int) -> str:
    if r["reach_mean"] is None:
        return f"not within {epochs} (0/{r['runs']})"
    extra = "" if r["reached"] == r["runs"] else f" ({r['reached']}/{r['runs']} runs)"
    return f"{r['reach_mean']:.1f} ± {r['reach_std']:.1f}{extra}"


def table(results: dict, epochs: int, target: float) -> str:
    return markdown_table(
        ["variant", "test accuracy (mean ± std)", f"epochs to {target:.0%} test accuracy"],
        [[name, f"{100 * r['final_mean']:.2f} ± {100 * r['final_std']:.2f}",
          _fmt_reach(r, epochs)] for name, r in results.items()])


def _minutes(results: dict) -> float:
    """Training time of a part: its runs' seconds, summed."""
    return sum(r.get("seconds_per_run", 0) * r["runs"] for r in results.values()) / 60


def write_section(payload: dict) -> None:
    p = payload
    small = [v for k, v in p["settings"].items() if "@" not in k]
    parts = ["## Hyperspherical layers and regularisers (benchmarks/layers.py)", "",
             f"{p['machine']}" + ("" if "torch" in p["machine"] else f", torch {p['torch']}")
             + ", CPU only, 3 seeds (0, 1, 2) per variant. "
             "Accuracies do not depend on machine load (same seeds, same thread count); the "
             "seconds are not speed results."]
    if small:
        parts[-1] += (" The digits and synthetic parts were measured on "
                      + ", ".join(sorted({v.get("date", p["date"]) for v in small}))
                      + " (the 2 cores shared with other jobs, load average about 10); commands: "
                      + "; ".join(sorted({f"`{v.get('command', p['command'])}`" for v in small}))
                      + ".")
    parts.append("")
    if "sphere" in p["results"]:
        s = p["settings"]["sphere"]
        parts += [f"**SphereNet (seed 001)** on digits, sphere-cnn (16/32/64, BatchNorm), Adam "
                  f"lr 1e-3, batch 64, {s['epochs']} epochs:", "",
                  table(p["results"]["sphere"], s["epochs"], s["target"]), ""]
    if "mhe" in p["results"]:
        s = p["settings"]["mhe"]
        parts += [f"**MHE (seed 002)** on 300 digits training examples (450 test), plain CNN "
                  f"(same network, nn.Conv2d) + softmax, SGD lr 0.05, batch 32, {s['epochs']} "
                  "epochs:", "", table(p["results"]["mhe"], s["epochs"], s["target"]), ""]
    if "hier" in p["results"]:
        s = p["settings"]["hier"]
        parts += [f"**Hierarchical regularisation (seed 003)** on a generated two-level data "
                  "set (4 super-classes × 5 sub-classes, 64-d Gaussian clusters: sub-class "
                  "centres = super-class centre + 0.6·N(0, I), examples = sub-class centre + "
                  "1.2·N(0, I); 30 train / 100 test per class), MLP (2 × 64) + softmax, SGD lr "
                  f"0.05, batch 32, {s['epochs']} epochs, λ = 0.1 on the classifier:", "",
                  table(p["results"]["hier"], s["epochs"], s["target"]), ""]
    if "hier-small" in p["results"]:
        s = p["settings"]["hier-small"]
        parts += ["The same with sub-classes closer to their super-class (spread 0.4) and only 8 "
                  f"training examples per class ({s['epochs']} epochs):", "",
                  table(p["results"]["hier-small"], s["epochs"], s["target"]), ""]
    if "protos" in p["results"]:
        r = p["results"]["protos"]
        parts += ["**Hierarchy-aware prototypes** (`solve(..., terms=[HierarchyTerm(...)])`, what `protogen solve --names "
                  "cifar100 --hierarchy cifar100 --dim 25` runs; seed 0, "
                  f"{r['seconds']:.0f} s): mean within-super-class angle / mean between angle "
                  f"= **{r['hierarchy_ratio']:.3f}** ({r['hierarchy_within_mean_angle_deg']:.2f}° "
                  f"/ {r['hierarchy_between_mean_angle_deg']:.2f}°; the plain solve's ratio is "
                  f"{r['hierarchy_plain_ratio']:.3f}), minimum angle "
                  f"{r['hierarchy_min_angle_deg']:.2f}° against the plain solve's "
                  f"{r['hierarchy_plain_min_angle_deg']:.2f}° (cost "
                  f"{100 * r['hierarchy_min_angle_cost']:.1f} %, 10 % allowed).", ""]
    for key in sorted(k for k in p["results"] if "@" in k):
        part, dataset = key.split("@", 1)
        s = p["settings"][key]
        parts += [f"**{part} on {dataset}** ({s['train_size']} training / "
                  f"{s.get('test_size', 'all')} test examples, "
                  f"{s['model']}, {s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}, "
                  f"device {s['device']}, seeds "
                  f"{', '.join(map(str, s['seeds']))}; measured {s.get('date', p['date'])}, "
                  f"{_minutes(p['results'][key]):.0f} min; `{s['command']}`):", "",
                  table(p["results"][key], s["epochs"], s["target"]), "",
                  verdict(part, p["results"][key]), ""]
    parts += [p.get("notes", "").strip(), ""]
    replace_section("layers", "\n".join(parts), RESULTS)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="sphere,mhe,hier")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="override every part's epochs")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--notes-file", help="text appended to the RESULTS.md section")
    ap.add_argument("--dataset", default="digits",
                    help="digits (the small parts above) or a full data set for the parts "
                         "sphere, mhe, hier: mnist, idx:/usr/share/datasets/fashion-mnist")
    ap.add_argument("--model", choices=["cnn9", "small"], default="cnn9",
                    help="network for --dataset runs (cnn9: the papers'; small: 16/32/64)")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (--dataset runs)")
    ap.add_argument("--limit-train", type=int, help="a fixed training subset (--dataset runs)")
    ap.add_argument("--limit-test", type=int, help="a fixed test subset (quick checks only)")
    ap.add_argument("--rewrite", action="store_true",
                    help="only rewrite the RESULTS.md section from results/layers.json")
    args = ap.parse_args(argv)
    if args.rewrite:
        payload = json.loads(RAW.read_text())
        if args.notes_file:
            payload["notes"] = Path(args.notes_file).read_text()
            RAW.write_text(json.dumps(payload, indent=1))
        write_section(payload)
        return
    import torch

    torch.set_num_threads(1)
    seeds = list(range(args.repeats))
    settings = {"sphere": {"epochs": args.epochs or 8, "target": 0.95},
                "mhe": {"epochs": args.epochs or 12, "target": 0.90},
                "hier": {"epochs": args.epochs or 25, "target": 0.80},
                "hier-small": {"epochs": args.epochs or 40, "target": 0.60},
                "protos": {"epochs": 0, "target": 0.0}}
    funcs = {"sphere": part_sphere, "mhe": part_mhe, "hier": part_hier,
             "hier-small": lambda *a: part_hier(*a, train_per=8, spread=0.4),
             "protos": part_protos}
    real = args.dataset != "digits"
    if real:
        funcs = {part: (lambda *a, part=part: part_real(
            part, args.dataset, *a, model=args.model, device=args.device,
            limit_train=args.limit_train, limit_test=args.limit_test)) for part in ("sphere", "mhe", "hier")}
        settings = {part: {"epochs": args.epochs or 10, "target": 0.98 if "fashion" not in
                           args.dataset else 0.88} for part in funcs}
        if args.parts == ap.get_default("parts"):
            args.parts = "sphere,mhe,hier"
    t0 = time.perf_counter()
    previous = json.loads(RAW.read_text()) if RAW.exists() else {}
    results = dict(previous.get("results", {}))
    kept = dict(previous.get("settings", {}))
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        print(f"[{part}]", flush=True)
        key = f"{part}@{args.dataset}" if real else part
        results[key] = funcs[part](seeds, settings[part]["epochs"], settings[part]["target"])
        command = command_line(["benchmarks/layers.py", *(argv or sys.argv[1:])])
        kept[key] = {**settings[part], "command": command, "date": utc_now("%Y-%m-%d"),
                     "minutes": (time.perf_counter() - t0) / 60}
        if real:
            kept[key].update(model=args.model, device=args.device, seeds=seeds,
                             train_size=args.limit_train or "all",
                             test_size=args.limit_test or "all")
        payload = {"date": utc_now("%Y-%m-%d"), "machine": machine(torch_info=real),
                   "torch": torch.__version__, "repeats": args.repeats, "seeds": seeds,
                   "command": command,
                   "elapsed_min": (time.perf_counter() - t0) / 60, "settings": kept,
                   "results": results}
        if args.notes_file:
            payload["notes"] = Path(args.notes_file).read_text()
        elif previous.get("notes"):
            payload["notes"] = previous["notes"]
        if not args.no_write:      # after every part, so an interrupted run keeps what it has
            # Re-read what is on disk first: runs on other data sets may be writing beside us.
            on_disk = json.loads(RAW.read_text()) if RAW.exists() else {}
            payload["results"] = {**on_disk.get("results", {}), key: results[key]}
            payload["settings"] = {**on_disk.get("settings", {}), key: kept[key]}
            RAW.parent.mkdir(exist_ok=True)
            tmp = RAW.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(payload, indent=1))
            os.replace(tmp, RAW)
            write_section(payload)
    for part, res in results.items():
        if part != "protos":
            print(f"\n[{part}]\n" + table(res, kept[part]["epochs"], kept[part]["target"]))
            if "@" in part:
                print(verdict(part.split("@")[0], res))
    if not args.no_write:
        print(f"wrote {RESULTS}")



if __name__ == "__main__":
    main()

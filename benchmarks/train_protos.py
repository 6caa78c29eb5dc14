"""Trainer benchmarks; writes the ``train`` section of benchmarks/RESULTS.md.

Parts (each saved to benchmarks/train_results/<part>.json, and the section is rebuilt from all
saved parts, so parts can be run separately):

  a  MNIST classification: prototypes vs softmax CE vs one-hot vs word-vector prototypes at
     D in {2, 3, 5, 10} (seed 000 §3.1: prototypes keep working when D < K)
  b  rotated MNIST (digits 2 3 4 5 7), joint classification + rotation in 3-D (§3.3), + figure
  c  rotation regression: prototype regression (2-D, 3-D) vs the squared-loss baseline
     (1-D, 2-D+1-D, 3-D+1-D), SGD and Adam (§3.2)
  d  cost of the prototype head: epoch time vs softmax CE, same network and data, epochs of the
     two interleaved in one process (ratio of medians)

    python benchmarks/train_protos.py --parts a,b,c,d
    python benchmarks/train_protos.py --parts a --quick      # tiny smoke run, not written

The machine this was written on has 2 CPU cores shared by several jobs and no GPU, so the MNIST
runs use subsets and few epochs (stated in the tables); they compare methods under one budget,
they do not reproduce the paper's 250-epoch numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import command_line, machine, replace_section, utc_now

from protogen.io import save_result
from protogen.solvers import solve
from protogen.train.data import load_dataset
from protogen.train import TrainConfig, read_metrics, train

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
STORE = HERE / "train_results"


def protos(tmp: Path, k: int, dim: int, seed: int = 0) -> str:
    path = tmp / f"p{k}-{dim}-{seed}.h5"
    if not path.exists():
        save_result(solve(k, dim, method="auto", seed=seed, progress=False), path)
    return str(path)


def run(tmp: Path, name: str, data=None, **kw) -> dict:
    cfg = TrainConfig(threads=1, **kw)
    out = tmp / name
    t = time.perf_counter()
    report = train(cfg, out, progress=False, log=None, data=data)
    report["wall_s"] = time.perf_counter() - t
    report["rows"] = read_metrics(out)
    return report


def part_a(tmp: Path, quick: bool) -> dict:
    limit, epochs = (2000, 1) if quick else (20000, 8)
    data = load_dataset("mnist", limit_train=limit)
    dims = [2, 3, 5, 10]
    common = dict(dataset="mnist", model="mlp", epochs=epochs, limit_train=limit, seed=0)
    rows = []
    for dim in dims:
        cells = {"D": dim}
        cells["prototypes"] = run(tmp, f"a-p{dim}", data, prototypes=protos(tmp, 10, dim),
                                  **common)["accuracy"]
        cells["softmax"] = run(tmp, f"a-s{dim}", data, loss="softmax", dim=dim,
                               **common)["accuracy"]
        cells["word-vectors"] = run(tmp, f"a-w{dim}", data, prototypes="word-vectors",
                                    dim=dim, **common)["accuracy"]
        cells["one-hot"] = (run(tmp, f"a-o{dim}", data, prototypes="onehot", **common)["accuracy"]
                            if dim == 10 else None)
        rows.append(cells)
        print(cells, flush=True)
    return {"rows": rows, "train": limit, "test": len(data.test), "epochs": epochs}


def part_b(tmp: Path, quick: bool) -> dict:
    limit, epochs = (1000, 1) if quick else (6000, 6)
    p = protos(tmp, 5, 2)
    r = run(tmp, "b-joint", dataset="rotated-mnist", task="joint", model="cnn", prototypes=p,
            epochs=epochs, limit_train=limit, optimizer="adam", seed=0)
    figure = None
    if not quick:
        from protogen.train.plots import plot_run

        paths = plot_run(tmp / "b-joint", out_dir=tmp, device="cpu", force=True)
        fig = [q for q in paths if q.name == "outputs.png"]
        if fig:
            figure = HERE / "train_rotated_mnist_joint.png"
            figure.write_bytes(fig[0].read_bytes())
    out = {"accuracy": r["accuracy"], "mae": r["mae"], "train": limit, "test": r["examples"],
           "epochs": epochs, "train_time_s": r["train_time_s"],
           "figure": figure.name if figure else None}
    print(out, flush=True)
    return out


def part_c(tmp: Path, quick: bool) -> dict:
    limit, epochs = (1000, 1) if quick else (10000, 8)
    data = load_dataset("rotated-mnist", limit_train=limit)
    variants = [("prototypes 2-D", dict(dim=2)), ("prototypes 3-D", dict(dim=3)),
                ("squared 1-D", dict(loss="squared")),
                ("squared 2-D+1-D", dict(loss="squared", hidden=True, dim=2)),
                ("squared 3-D+1-D", dict(loss="squared", hidden=True, dim=3))]
    rows = []
    for name, kw in variants:
        cells = {"method": name}
        for opt in ("sgd", "adam"):
            cells[opt] = run(tmp, f"c-{name}-{opt}".replace(" ", "_"), data,
                             dataset="rotated-mnist", task="regression", model="mlp",
                             optimizer=opt, epochs=epochs, limit_train=limit, seed=0, **kw)["mae"]
        rows.append(cells)
        print(cells, flush=True)
    return {"rows": rows, "train": limit, "test": len(data.test), "epochs": epochs}


def head_step_cost(k: int = 10, dim: int = 10, batch: int = 128, steps: int = 3000) -> dict:
    """Microseconds per step of the head alone: loss + backward + prediction, alternating the
    two heads in blocks so load changes hit both alike."""
    from protogen.train import heads as H

    torch.set_num_threads(1)
    p = np.linalg.qr(np.random.default_rng(0).standard_normal((dim, dim)))[0][:k]
    heads = {"prototype": H.PrototypeHead(p), "softmax": H.SoftmaxHead(dim, k)}
    x = torch.randn(batch, dim, requires_grad=True)
    y = torch.randint(0, k, (batch,))
    times = {name: [] for name in heads}
    for _ in range(10):
        for name, head in heads.items():
            t = time.perf_counter()
            for _ in range(steps // 10):
                head.loss(x, y).backward()
                head.predict(x.detach())
            times[name].append((time.perf_counter() - t) / (steps // 10) * 1e6)
    return {name: statistics.median(v) for name, v in times.items()}


def _interleaved(tmp: Path, data, model: str, limit: int, rounds: int, p: str) -> dict:
    runs = {"prototype": dict(prototypes=p), "softmax": dict(loss="softmax")}
    times = {k: [] for k in runs}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for name in order:
            cfg = TrainConfig(threads=1, dataset="mnist", model=model, epochs=rounds,
                              limit_train=limit, limit_test=500, seed=0, **runs[name])
            out = tmp / f"d-{model}-{name}"
            train(cfg if r == 0 else None, out, resume=r > 0, stop_after=r + 1, progress=False,
                  log=None, data=data)
            times[name].append(read_metrics(out)[-1]["train_time_s"])
    med = {k: statistics.median(v[1:] if len(v) > 2 else v) for k, v in times.items()}
    return {"model": model, "median_s": med, "ratio": med["prototype"] / med["softmax"],
            "rounds": rounds, "train": limit, "steps": -(-limit // 128), "all_s": times}


def part_d(tmp: Path, quick: bool) -> dict:
    """Interleave single epochs of the two heads (each its own run, resumed epoch by epoch) so
    that load changes on the shared machine hit both alike; compare median epoch times."""
    p = protos(tmp, 10, 10)
    plan = [("mlp", 2000, 2), ("cnn", 256, 2)] if quick else [("mlp", 6000, 25),
                                                               ("cnn", 640, 7)]
    rows = []
    for model, limit, rounds in plan:
        data = load_dataset("mnist", limit_train=limit, limit_test=500)
        rows.append(_interleaved(tmp, data, model, limit, rounds, p))
        print(rows[-1], flush=True)
    out = {"rows": rows, "head_us": head_step_cost(), "steps": rows[0]["steps"]}
    print(out["head_us"], flush=True)
    return out


def fmt(x, digits=4):
    return "—" if x is None else f"{x:.{digits}f}"


def render(stamp: dict) -> str:
    parts = {p: json.loads((STORE / f"{p}.json").read_text()) for p in "abcd"
             if (STORE / f"{p}.json").exists()}
    lines = ["## Training hyperspherical prototype networks (`benchmarks/train_protos.py`)", "",
             "CPU only: no GPU was lent to this task, so (e) (ResNet-32 images/s with and without "
             "AMP, a GPU MNIST run) is not measured. The 2 CPU cores were shared with other jobs "
             "while measuring, and training used 1 torch thread; times are upper bounds. MNIST "
             "runs use fixed training subsets and few epochs (SGD, lr 0.01, momentum 0.9, weight "
             "decay 1e-4, batch 128, ×0.1 at 40 % and 80 % of the epochs, unless stated), so "
             "they compare methods under one small budget and do not reproduce the paper's "
             "250-epoch figures.", ""]
    for p, payload in parts.items():
        meta = payload["meta"]
        lines.append(f"_{meta['date']}, {meta['machine']}; `{meta['command']}`_")
        lines.append("")
        r = payload["result"]
        if p == "a":
            lines += [f"### (a) MNIST test accuracy vs output dimension (K = 10; mlp, "
                      f"{r['train']} training images, {r['epochs']} epochs, {r['test']} test)", "",
                      "| D | prototypes (solved) | softmax CE (D → 10 linear) | word-vector "
                      "prototypes (GloVe, PCA) | one-hot prototypes |", "|---|---|---|---|---|"]
            lines += [f"| {c['D']} | {fmt(c['prototypes'])} | {fmt(c['softmax'])} | "
                      f"{fmt(c['word-vectors'])} | {fmt(c['one-hot'])} |" for c in r["rows"]]
            lines += ["", "One-hot prototypes exist only for D = K = 10."]
        elif p == "b":
            lines += [f"### (b) Rotated MNIST (digits 2 3 4 5 7, rotation U[0°, 180°]), joint in "
                      f"3-D (cnn, Adam lr 1e-3, {r['train']} training images, {r['epochs']} "
                      f"epochs, {r['test']} test)", "",
                      "| classification accuracy | rotation MAE (degrees) | training time (s) |",
                      "|---|---|---|",
                      f"| {fmt(r['accuracy'])} | {fmt(r['mae'], 2)} | {fmt(r['train_time_s'], 1)} |"]
            if r.get("figure"):
                lines += ["", f"Outputs on the sphere coloured by rotation and by class: "
                              f"![joint outputs]({r['figure']})"]
        elif p == "c":
            lines += [f"### (c) Rotation regression on rotated MNIST, test MAE in degrees "
                      f"(mlp, {r['train']} training images, {r['epochs']} epochs, "
                      f"{r['test']} test)", "", "| method | SGD | Adam |", "|---|---|---|"]
            lines += [f"| {c['method']} | {fmt(c['sgd'], 2)} | {fmt(c['adam'], 2)} |"
                      for c in r["rows"]]
        elif p == "d":
            lines += ["### (d) Cost of the prototype head: epoch time vs softmax CE (MNIST "
                      "subsets, D = K = 10, epochs of the two interleaved)", "",
                      "| network | training images | epochs each | prototype head epoch (s, "
                      "median) | softmax CE epoch (s, median) | ratio |", "|---|---|---|---|---|---|"]
            lines += [f"| {row['model']} | {row['train']} | {row['rounds']} | "
                      f"{fmt(row['median_s']['prototype'], 3)} | "
                      f"{fmt(row['median_s']['softmax'], 3)} | {fmt(row['ratio'], 3)} |"
                      for row in r["rows"]]
            lines += ["", "Epoch time = the training loop only (forward, loss, backward, step, "
                      "train accuracy), without the test pass; the first epoch of each is left "
                      "out of the median (warm-up). On this loaded machine single epochs vary "
                      "by ±30 %, so the ratios are uncertain to several percent."]
            if "head_us" in r:
                h = r["head_us"]
                lines += ["", f"The heads alone (loss + backward + prediction, batch 128, "
                              f"K = D = 10, 1 thread, median of 10 alternating blocks): "
                              f"prototype {h['prototype']:.0f} µs, softmax CE "
                              f"{h['softmax']:.0f} µs per step, i.e. "
                              f"{(h['prototype'] - h['softmax']) * r['steps'] / 1e6:.3f} s more "
                              f"per epoch of {r['steps']} steps: a handful of small tensor "
                              f"operations (index, dot, norm, square) against one fused "
                              f"cross-entropy kernel."]
        lines.append("")
    return "\n".join(lines)


def write_results() -> None:
    replace_section("train", render({}), RESULTS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="a,b,c,d")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, nothing written")
    args = ap.parse_args()
    command = command_line(["benchmarks/train_protos.py", *sys.argv[1:]])
    funcs = {"a": part_a, "b": part_b, "c": part_c, "d": part_d}
    with tempfile.TemporaryDirectory() as tmp:
        for p in args.parts.split(","):
            t = time.perf_counter()
            result = funcs[p](Path(tmp), args.quick)
            print(f"part {p}: {time.perf_counter() - t:.0f} s", flush=True)
            if args.quick:
                continue
            STORE.mkdir(exist_ok=True)
            meta = {"date": utc_now(), "machine": machine(torch_info=True), "command": command}
            (STORE / f"{p}.json").write_text(json.dumps({"meta": meta, "result": result},
                                                        indent=1, default=float))
            write_results()


if __name__ == "__main__":
    main()

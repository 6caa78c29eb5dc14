"""Record a finished `protogen train` run (its command, settings and per-epoch test figures) as
the ``train_check`` section of benchmarks/RESULTS.md: the evidence that the trainer's defaults
train well through the CLI itself (issue 14), not only in a benchmark loop.

    protogen train --prototypes s10.h5 --dataset mnist --model cnn --epochs 8 --out RUN
    python benchmarks/train_check.py RUN --command "protogen train ..."
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import machine, markdown_table, replace_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--command", required=True, help="the protogen train command that ran")
    args = ap.parse_args()
    saved = json.loads((args.run_dir / "config.json").read_text())
    c = saved["config"]
    rows = [json.loads(line) for line in (args.run_dir / "metrics.jsonl").read_text().splitlines()]
    table = markdown_table(["epoch", "lr (end)", "train loss", "test accuracy", "epoch time (s)"],
                           [[r["epoch"], f"{r['lr']:.2e}", f"{r['train_loss']:.4f}",
                             f"{r['test_accuracy']:.4f}", f"{r['epoch_time_s']:.1f}"]
                            for r in rows])
    body = (f"## The trainer's defaults through the CLI (`benchmarks/train_check.py`, issue 14)\n\n"
            f"{saved['created']}, {machine()}, torch threads {c['threads']}, idle machine. "
            f"`{args.command}`: {c['optimizer']} lr {c['lr']}, weight decay {c['weight_decay']}, "
            f"{c['schedule']} schedule with {c['warmup']:.2f} warm-up epochs, reduction "
            f"{c['reduction']}, batch {c['batch_size']}, {saved['resolved']['train_size']} "
            f"training / {saved['resolved']['test_size']} test examples.\n\n{table}\n")
    replace_section("train_check", body)
    print(body)


if __name__ == "__main__":
    main()

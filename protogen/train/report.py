"""The run directory's text files and what is printed from them.

    config.json    the config and the resolved RunInfo (written once, atomically)
    metrics.jsonl  one line per epoch (appended and fsynced; trimmed on resume)
    report.json    the final test figures (atomic)

(checkpoint.pt belongs to :mod:`protogen.train.checkpoint`.)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import numpy as np
import torch

from protogen.errors import FileFormatError, InputError
from protogen.io import atomic_path
from protogen.train import metrics as M
from protogen.train.checkpoint import CHECKPOINT_FILE
from protogen.train.config import RunInfo, TrainConfig

CONFIG_FILE, METRICS_FILE, REPORT_FILE = "config.json", "metrics.jsonl", "report.json"


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_json(path: Path, obj) -> None:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


# ------------------------------------------------------------------------ run directory
def check_new_run_dir(run_dir: Path, force: bool) -> None:
    """A new run needs an empty (or absent) directory, or ``force``."""
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} exists and is not a directory")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
        raise InputError(f"run directory {run_dir} is not empty (use --resume to continue it "
                         "or --force to start over)")


def start_run_dir(run_dir: Path, c: TrainConfig, info: RunInfo, *, world_size: int,
                  device, done_epochs: int | None) -> None:
    """Create or reopen the run directory (main rank only). A new run writes config.json and
    clears the logs of an overwritten one (--force); a resumed run (``done_epochs``) trims
    metrics.jsonl to the checkpoint."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if done_epochs is not None:
        _truncate_metrics(run_dir / METRICS_FILE, done_epochs)
        return
    write_json(run_dir / CONFIG_FILE, {
        "config": c.to_dict(), "resolved": info.to_dict(), "world_size": world_size,
        "device": str(device), "torch": torch.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    for name in (METRICS_FILE, REPORT_FILE, CHECKPOINT_FILE):
        (run_dir / name).unlink(missing_ok=True)


def load_run_config(run_dir) -> tuple[TrainConfig, RunInfo]:
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    try:
        saved = json.loads(path.read_text())
        return TrainConfig.from_dict(saved["config"]), RunInfo.from_dict(saved["resolved"])
    except FileNotFoundError:
        raise FileFormatError(f"{path}: missing (not a protogen run directory)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(f"{path} is damaged ({exc})") from None


# -------------------------------------------------------------------------- metrics.jsonl
def append_metrics(run_dir: Path, row: dict) -> None:
    with open(Path(run_dir) / METRICS_FILE, "a") as fh:
        fh.write(json.dumps(row, default=_json_default) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _truncate_metrics(path: Path, epochs: int) -> None:
    """On resume drop lines of epochs after the checkpoint (an interruption between the log
    line and the checkpoint), so the log equals that of an uninterrupted run."""
    if not path.exists():
        return
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keep = [r for r in rows if r.get("epoch", 0) <= epochs]
    if len(keep) != len(rows):
        with atomic_path(path, force=True) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def format_row(row: dict) -> str:
    parts = [f"epoch {row['epoch']:>3}", f"loss {row['train_loss']:.4f}"]
    if "test_accuracy" in row:
        parts.append(f"train acc {row['train_accuracy']:.4f}  test acc {row['test_accuracy']:.4f}")
    if "test_mae" in row:
        parts.append(f"train MAE {row['train_mae']:.4g}  test MAE {row['test_mae']:.4g}")
    parts.append(f"{row['train_time_s']:.2f} s")
    return "  ".join(parts)


# ------------------------------------------------------------------------------- report
def final_report(test: dict, c: TrainConfig, info: RunInfo, run_dir, device, *,
                 world_size: int = 1, main: bool = True) -> dict:
    """The report.json of a finished run: what ran, where, and the test figures."""
    rows = read_metrics(run_dir) if main else []
    test = {**test, "finished": True}
    return {"run_dir": str(run_dir), "dataset": c.dataset, "task": c.task, "loss": c.loss,
            "model": c.model, "prototypes": info.prototypes.get("source"),
            "out_dim": info.out_dim, "num_classes": info.num_classes, "seed": c.seed,
            "device": str(device), "world_size": world_size, "amp": c.amp,
            "train_time_s": sum(r["train_time_s"] for r in rows),
            **{k: v for k, v in test.items() if k != "outputs"}}


def write_report(run_dir: Path, report: dict) -> None:
    write_json(Path(run_dir) / REPORT_FILE, report)


def format_report(report: dict) -> str:
    lines = [f"run {report.get('run_dir', '')}: {report['task']} on {report['dataset']}, "
             f"{report['model']} + {report['loss']} loss, D = {report['out_dim']}, "
             f"{report['epoch']} epochs"]
    if "accuracy" in report:
        lines.append(f"  test accuracy  {report['accuracy']:.4f} ({report['examples']} examples)")
        per = report["per_class_accuracy"]
        lines.append("  per class      " + "  ".join(
            f"{n}:{'-' if a is None else f'{a:.3f}'}" for n, a in per.items()))
        conf = np.array(report["confusion_matrix"])
        lines.append("  confusion (rows = true, columns = predicted)")
        lines += ["    " + line for line in
                  M.format_confusion(conf, list(per)).splitlines()]
    if "mae" in report:
        lines.append(f"  test MAE       {report['mae']:.4g}")
    return "\n".join(lines)

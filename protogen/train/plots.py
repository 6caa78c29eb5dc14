"""Pictures of a run (matplotlib, optional, imported lazily): training curves from
metrics.jsonl and, for 2-D and 3-D output spaces, the test outputs on the sphere coloured by
class and by regression value (seed 000, Fig. 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protogen.errors import InputError
from protogen.io import atomic_path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("protogen plot needs matplotlib: pip install 'protogen[plot]'") from None
    return plt


def _save(fig, path: Path, force: bool) -> Path:
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_curves(rows: list[dict], path: Path, *, force: bool = False) -> Path:
    plt = _pyplot()
    epochs = [r["epoch"] for r in rows]
    panels = [("train_loss", "training loss")]
    if "test_accuracy" in rows[0]:
        panels.append(("accuracy", "accuracy"))
    if "test_mae" in rows[0]:
        panels.append(("mae", "MAE"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        if key == "train_loss":
            ax.plot(epochs, [r[key] for r in rows], label="train")
        else:
            ax.plot(epochs, [r[f"train_{key}"] for r in rows], label="train")
            ax.plot(epochs, [r[f"test_{key}"] for r in rows], label="test")
            ax.legend()
        ax.set_xlabel("epoch")
        ax.set_title(title)
    try:
        return _save(fig, path, force)
    finally:
        plt.close(fig)


def plot_outputs(outputs, labels, values, path: Path, *, class_names=None,
                 force: bool = False) -> Path:
    """Normalised outputs in 2-D (circle) or 3-D (sphere); one panel per available target."""
    plt = _pyplot()
    z = np.asarray(outputs, dtype=np.float64)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    dim = z.shape[1]
    targets = [(v, name) for v, name in ((values, "regression value"), (labels, "class"))
               if v is not None]
    fig = plt.figure(figsize=(5 * len(targets), 4.5))
    for i, (target, name) in enumerate(targets, 1):
        ax = fig.add_subplot(1, len(targets), i, projection="3d" if dim == 3 else None)
        cmap = "viridis" if name != "class" else "tab10"
        pts = ax.scatter(*z.T, c=target, cmap=cmap, s=4)
        ax.set_title(f"outputs coloured by {name}")
        if dim == 2:
            ax.set_aspect("equal")
        if name == "class" and class_names:
            handles = [plt.Line2D([], [], marker="o", ls="", color=pts.cmap(pts.norm(k)))
                       for k in range(len(class_names))]
            ax.legend(handles, class_names, fontsize=7, loc="upper right")
        else:
            fig.colorbar(pts, ax=ax, shrink=0.7)
    try:
        return _save(fig, path, force)
    finally:
        plt.close(fig)


def plot_run(run_dir, *, out_dir=None, device: str = "auto", force: bool = False) -> list[Path]:
    from protogen.train import evaluate_run, load_run_config, read_metrics

    run_dir = Path(run_dir)
    _, info = load_run_config(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: no such directory")
    _pyplot()
    written = []
    rows = read_metrics(run_dir)
    if rows:
        written.append(plot_curves(rows, out_dir / "curves.png", force=force))
    if info.out_dim in (2, 3):
        ev = evaluate_run(run_dir, device=device, keep_outputs=True)
        written.append(plot_outputs(ev["outputs"], ev["labels"], ev["values"],
                                    out_dir / "outputs.png",
                                    class_names=info.class_names, force=force))
    if not written:
        raise InputError(f"{run_dir}: nothing to plot (no metrics, output dimension "
                         f"{info.out_dim})")
    return written

"""Pictures of a spherical code (matplotlib, optional, imported lazily) for ``protogen plot``.

- ``*-sphere.png`` (D = 3): the points on the sphere with their contact graph, the pairs at the
  minimum angle (the rigid frame that a Tammes optimum is judged by);
- ``*-angles.png`` (any D): histograms of all pairwise angles and of each point's
  nearest-neighbour angle, with the upper bounds and the best-known angle drawn as lines;
- ``*-semantic.png`` (files written with word vectors): class-similarity heatmaps of the
  prototypes and of the word vectors side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protogen import sphere
from protogen.train.plots import _pyplot, _save

# Pairs within this many degrees of the minimum angle count as contacts.
CONTACT_TOLERANCE_DEG = 1e-3
# Above this many points the pairwise histogram uses a fixed random sample of pairs.
MAX_EXACT_PAIRS = 2_000_000


def contact_edges(points: np.ndarray, tolerance_deg: float = CONTACT_TOLERANCE_DEG) -> np.ndarray:
    """Index pairs (i < j) whose angle is within ``tolerance_deg`` of the minimum angle."""
    x = sphere.normalize(np.asarray(points, dtype=np.float64))
    cos = np.clip(x @ x.T, -1.0, 1.0)
    iu = np.triu_indices(len(x), 1)
    angles = np.degrees(np.arccos(cos[iu]))
    keep = angles <= angles.min() + tolerance_deg
    return np.stack([iu[0][keep], iu[1][keep]], axis=1)


def pair_angles_deg(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, bool]:
    """All pairwise angles, or a seeded sample of ``MAX_EXACT_PAIRS`` pairs for large codes;
    the flag says whether it is a sample."""
    x = sphere.normalize(np.asarray(points, dtype=np.float64))
    k = len(x)
    if k * (k - 1) // 2 <= MAX_EXACT_PAIRS:
        iu = np.triu_indices(k, 1)
        return np.degrees(np.arccos(np.clip(np.sum(x[iu[0]] * x[iu[1]], axis=1), -1, 1))), False
    rng = np.random.default_rng(seed)
    i = rng.integers(0, k, MAX_EXACT_PAIRS)
    j = (i + rng.integers(1, k, MAX_EXACT_PAIRS)) % k  # never i itself
    return np.degrees(np.arccos(np.clip(np.sum(x[i] * x[j], axis=1), -1, 1))), True


def reference_lines(num: int, dim: int) -> dict[str, float]:
    """The angles drawn on the histograms: simplex, Rankin and LP bounds, best known."""
    from protogen import bounds

    lines = {"simplex bound": bounds.simplex_bound_deg(num, dim)}
    if num > dim + 1:
        lines["Rankin bound"] = bounds.rankin_bound_deg(num, dim)[0]
    try:
        lines["LP bound"] = bounds.delsarte_lp_bound_deg(num, dim)
    except Exception:  # noqa: BLE001 - a bound the LP cannot give is simply not drawn
        pass
    try:
        from protogen.bench import load_table

        known = load_table().get((dim, num))
        if known is not None:
            lines["best known"] = known.min_angle_deg
    except Exception:  # noqa: BLE001 - no table, no line
        pass
    return lines


def plot_sphere(points: np.ndarray, path: Path, *, title: str = "", force: bool = False) -> Path:
    plt = _pyplot()
    x = sphere.normalize(np.asarray(points, dtype=np.float64))
    fig = plt.figure(figsize=(5.5, 5.5))
    ax = fig.add_subplot(projection="3d")
    u, v = np.mgrid[0:2 * np.pi:40j, 0:np.pi:20j]
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85",
                      linewidth=0.4)
    for i, j in contact_edges(x):
        ax.plot(*zip(x[i], x[j]), color="tab:red", linewidth=1.2)
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], color="tab:blue", s=30, depthshade=True)
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
    ax.set_title(title or f"{len(x)} points, {sphere.min_angle_deg(x):.4f} deg; red: contacts")
    return _save(fig, path, force)


def plot_angles(points: np.ndarray, path: Path, *, force: bool = False) -> Path:
    plt = _pyplot()
    x = np.asarray(points, dtype=np.float64)
    num, dim = x.shape
    pairs, sampled = pair_angles_deg(x)
    nn = sphere.angle_deg(sphere.nearest_neighbor_cosines(x))
    lines = reference_lines(num, dim)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, data, label in ((axes[0], pairs, "pairwise angles" + (" (sample)" if sampled else "")),
                            (axes[1], nn, "nearest-neighbour angle of each point")):
        ax.hist(data, bins=60, color="tab:blue", alpha=0.8)
        for (name, value), style in zip(lines.items(), ("--", "-.", ":", "-")):
            ax.axvline(value, color="k", linestyle=style, linewidth=1, label=f"{name} {value:.3f}")
        ax.axvline(float(np.min(nn)), color="tab:red", linewidth=1,
                   label=f"min angle {np.min(nn):.3f}")
        ax.set_xlabel("degrees")
        ax.set_title(label)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{num} prototypes in {dim} dimensions")
    return _save(fig, path, force)


def plot_semantic(points: np.ndarray, class_vectors: np.ndarray, path: Path, *,
                  names: list[str] | None = None, force: bool = False) -> Path:
    plt = _pyplot()
    p = sphere.normalize(np.asarray(points, dtype=np.float64))
    w = sphere.normalize(np.asarray(class_vectors, dtype=np.float64))
    # Order classes by the word vectors' leading principal direction so related ones sit together.
    centred = w - w.mean(axis=0)
    order = np.argsort(np.linalg.svd(centred, full_matrices=False)[2][0] @ centred.T)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, m, title in ((axes[0], p, "prototype cosines"), (axes[1], w, "word-vector cosines")):
        im = ax.imshow((m @ m.T)[np.ix_(order, order)], cmap="viridis", vmin=-1, vmax=1)
        ax.set_title(title)
        if names is not None and len(names) <= 40:
            labels = [names[i] for i in order]
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
        else:
            ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8)
    return _save(fig, path, force)


def picture_paths(dim: int, out_dir, stem: str, *, semantic: bool = False) -> list[Path]:
    """The files :func:`plot_code` writes for a code in ``dim`` dimensions, in order."""
    out_dir = Path(out_dir)
    kinds = (["sphere"] if dim == 3 else []) + ["angles"] + (["semantic"] if semantic else [])
    return [out_dir / f"{stem}-{kind}.png" for kind in kinds]


def plot_code(points: np.ndarray, out_dir, stem: str, *, class_vectors=None, names=None,
              force: bool = False) -> list[Path]:
    """Every picture that applies to this code; returns the files written. Every target is
    checked before the first is drawn, so an existing file (without ``force``) or an unwritable
    directory leaves nothing half done."""
    from protogen.io import check_writable

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = picture_paths(points.shape[1], out_dir, stem, semantic=class_vectors is not None)
    for path in paths:
        check_writable(path, force=force)
    plt = _pyplot()
    before, written = set(plt.get_fignums()), []
    try:
        if points.shape[1] == 3:
            written.append(plot_sphere(points, paths[0], force=force))
        written.append(plot_angles(points, paths[len(written)], force=force))
        if class_vectors is not None:
            written.append(plot_semantic(points, class_vectors, paths[-1], names=names,
                                         force=force))
    finally:  # _save does not close figures; a long session would keep them all
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
    return written

"""The hierarchy objective term: sub-classes of one super-class nearer each other than to the
rest (hierarchy-aware prototypes, after DH2L, seed 003; hierarchy files from
:mod:`protogen.layers.hierarchy`).

Recipe (through :func:`protogen.solvers.solve`): the plain solve gives the reference minimum
angle θ_plain; its points (or another term's start) are re-labelled by :func:`grouped_assignment`
(same point set, grouped); the solve from there adds ``weight`` · (mean between-group cosine −
mean within-group cosine capped at cos(``angle_fraction`` · θ_plain)) for gradient solvers, so
same-group prototypes are pulled together down to that angle and no further, and
``fitness_weight`` · (mean within − mean between cosine) for the EA. The solved code is kept when
its minimum angle is within ``max_cost`` (10 %) of θ_plain and its within/between angle ratio is
lower than the start's; otherwise the (grouped) start is. Metric: mean within-group angle / mean
between-group angle (``ratio``, < 1 = grouped) and the two means.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from protogen.errors import InputError
from protogen.layers.hierarchy import load_hierarchy
from protogen.sphere import min_angle_deg
from protogen.terms import Term


def group_angle_stats(x: np.ndarray, group_ids) -> dict:
    """Mean within-group and between-group angle (degrees) and their ratio."""
    x = np.asarray(x, dtype=np.float64)
    ang = np.degrees(np.arccos(np.clip(x @ x.T, -1.0, 1.0)))
    ids = np.asarray(group_ids)
    same = ids[:, None] == ids[None, :]
    off = ~np.eye(len(x), dtype=bool)
    within, between = float(ang[same & off].mean()), float(ang[~same].mean())
    return {"within_mean_angle_deg": within, "between_mean_angle_deg": between,
            "ratio": within / between}


def torch_group_term(group_ids, cos_target: float | None = None):
    """extra_loss(W) = mean between-group cosine − mean within-group cosine.

    Without ``cos_target`` it is O(K·D) through group sums: Σ_{i≠j∈g} ŵ_i·ŵ_j = ‖Σ_{i∈g} ŵ_i‖²
    − n_g. With it, within-group cosines are capped at ``cos_target`` (min(cos, cos τ)): a pair
    already closer than the angle τ is no longer pulled, so groups tighten down to τ and never
    collapse (an uncapped pull strong enough to matter merges whole groups)."""
    ids = np.asarray(group_ids)
    counts = np.bincount(ids)
    k = len(ids)
    n_within = float((counts * (counts - 1)).sum())
    n_between = float(k * (k - 1)) - n_within
    tids = torch.as_tensor(ids, dtype=torch.long)
    same = torch.as_tensor((ids[:, None] == ids[None, :]) & ~np.eye(k, dtype=bool))

    def term(w: torch.Tensor) -> torch.Tensor:
        if cos_target is not None:
            cos = w @ w.t()
            m = same.to(w.device)
            within = cos.clamp_max(cos_target)[m].sum()
            between = cos.sum() - cos.diagonal().sum() - cos[m].sum()
            return between / n_between - within / n_within
        sums = torch.zeros(len(counts), w.shape[1], dtype=w.dtype, device=w.device)
        sums = sums.index_add(0, tids.to(w.device), w)
        within = sums.pow(2).sum() - k
        total = w.sum(0).pow(2).sum() - k
        return (total - within) / n_between - within / n_within

    return term


def numpy_group_term(group_ids):
    ids = np.asarray(group_ids)
    counts = np.bincount(ids)
    k = len(ids)
    n_within = float((counts * (counts - 1)).sum())
    n_between = float(k * (k - 1)) - n_within
    onehot = np.eye(len(counts), dtype=np.float32)[ids]          # (K, G)

    def term(batch: np.ndarray) -> np.ndarray:
        b = np.asarray(batch, dtype=np.float32)
        b = b / np.linalg.norm(b, axis=2, keepdims=True)
        sums = np.einsum("kg,nkd->ngd", onehot, b)
        within = (sums ** 2).sum(axis=(1, 2)) - k
        total = (b.sum(axis=1) ** 2).sum(axis=1) - k
        return (within / n_within - (total - within) / n_between).astype(np.float64)

    return term


def grouped_assignment(points: np.ndarray, group_ids, seed: int = 0,
                       rounds: int = 20) -> np.ndarray:
    """Re-label a code so that each group gets a cluster of its points.

    Balanced clustering on the sphere (capacity = group size): greedy assignment of points to
    centres by cosine, centres re-estimated as cluster means, repeated. Returns the permuted
    (K, D) code; the set of points, hence every pairwise angle and the minimum, is unchanged.
    """
    pts = np.asarray(points, dtype=np.float64)
    ids = np.asarray(group_ids)
    counts = np.bincount(ids)
    rng = np.random.default_rng(seed)
    centers = pts[rng.choice(len(pts), size=len(counts), replace=False)]
    label = None
    for _ in range(rounds):
        cos = pts @ centers.T
        order = np.argsort(-cos, axis=None)
        cap = counts.copy()
        new = np.full(len(pts), -1)
        for flat in order:
            p, g = divmod(int(flat), len(counts))
            if new[p] < 0 and cap[g] > 0:
                new[p] = g
                cap[g] -= 1
        if label is not None and np.array_equal(new, label):
            break
        label = new
        for g in range(len(counts)):
            m = pts[label == g].sum(0)
            centers[g] = m / (np.linalg.norm(m) or 1.0)
    out = np.empty_like(pts)
    for g in range(len(counts)):
        out[np.flatnonzero(ids == g)] = pts[label == g]
    return out


class HierarchyTerm(Term):
    """Super-class grouping as an objective term (see the module doc).

    ``hierarchy``: a bundled name (``cifar100``), a JSON/CSV file, a dict or a
    :class:`~protogen.layers.hierarchy.Hierarchy`; every class name must be in it.
    """

    name = "hierarchy"
    needs_reference = True
    # The start is already a good code (the plain one, grouped): one restart refines it.
    solver_defaults = {"restarts": 1}

    def __init__(self, hierarchy, *, weight: float = 1.0, angle_fraction: float = 0.93,
                 fitness_weight: float = 10.0, max_cost: float = 0.1):
        if not 0 < angle_fraction <= 1:
            raise InputError(f"angle_fraction must be in (0, 1], got {angle_fraction}")
        if not 0 <= max_cost <= 1:
            raise InputError(f"max_cost must be in [0, 1], got {max_cost}")
        for label, value in (("weight", weight), ("fitness_weight", fitness_weight)):
            if not math.isfinite(value) or value < 0:
                raise InputError(f"hierarchy {label} must be a finite number >= 0, got {value}")
        self.hierarchy = load_hierarchy(hierarchy)
        self.weight, self.angle_fraction = float(weight), float(angle_fraction)
        self.fitness_weight, self.max_cost = float(fitness_weight), float(max_cost)
        self.ids, self.groups, self.reference_min = None, [], None
        self._loss = self._fitness = None

    def bind(self, num, dim, class_names, seed):
        if class_names is None:
            raise InputError("the hierarchy term needs the class names (--names)")
        self.ids, self.groups = self.hierarchy.group_ids(class_names)
        if len(self.groups) < 2:
            raise InputError(f"hierarchy {self.hierarchy.source}: the classes fall into a "
                             "single group; nothing to separate")
        self._fitness = numpy_group_term(self.ids)
        self._loss, self.reference_min = None, None

    def set_reference(self, reference):
        self.reference_min = float(min_angle_deg(reference))
        cap = math.cos(math.radians(self.angle_fraction * self.reference_min))
        self._loss = torch_group_term(self.ids, cap)

    def arrange(self, start, seed):
        return grouped_assignment(start, self.ids, seed=seed)

    def loss(self, x):
        if self._loss is None:  # no reference: pull without a floor
            self._loss = torch_group_term(self.ids)
        return self.weight * self._loss(x)

    def fitness(self, batch):
        return self.fitness_weight * self._fitness(batch)

    def metrics(self, prototypes):
        return group_angle_stats(prototypes, self.ids)

    def accept(self, solved, start):
        floor = (1 - self.max_cost) * (self.reference_min if self.reference_min is not None
                                       else float(min_angle_deg(start)))
        return (float(min_angle_deg(solved)) >= floor
                and group_angle_stats(solved, self.ids)["ratio"]
                < group_angle_stats(start, self.ids)["ratio"])

    def metadata(self):
        return {"source": self.hierarchy.source, "groups": len(self.groups),
                "weight": self.weight, "angle_fraction": self.angle_fraction,
                "fitness_weight": self.fitness_weight, "max_cost": self.max_cost}

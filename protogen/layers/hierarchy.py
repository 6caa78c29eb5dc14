"""Hierarchical-hyperspherical regularisation (seed 003, DH2L) and hierarchy-aware prototypes.

Hierarchy files map a super-class to its sub-classes: JSON ``{"super": ["sub", ...], ...}`` or
CSV rows ``super,sub`` (an optional header ``super,sub`` / ``parent,child``). A sub-class may
itself be a super-class (deeper trees); the regulariser groups every class by its immediate
parent. ``cifar100`` names the bundled file of CIFAR-100's 20 super-classes.

Parameterisation (§3.1.1, Eqs. 1–3): a class weight is a group centre plus a surface part,
W_k = W_super[g(k)] + w_sub[k] (the paper's w = w_s − w_c with w_c the centre). A plain
(K, D) layer is decomposed with the centre = mean of its group's rows (footnote 3 of §3.1.2:
the centre "is equivalent to a mean vector"); :class:`HierarchicalLinear` holds the two
parts as separate parameters.

Regulariser (Eqs. 4–7): R = R_p + R_c + λ_C·C with
  R_p = 1/G Σ_g 2/(n_g(n_g − 1)) Σ_{i<j ∈ g} (1 − D(w_sub,i, w_sub,j))   (within a group, Eq. 6)
  R_c = 2/(G(G − 1)) Σ_{a<b} (1 − D(W_super,a, W_super,b))              (across groups, Eq. 7)
where D ∈ [0, 1] is an angular distance (§3.2) and "1 − D" is the paper's reversed form, so
minimising R spreads sub-classes within their group and the groups apart. Constraints (Appendix,
as hinge penalties): C1 an inner sphere's radius is below its outer one, ‖w_sub,k‖ ≤ ‖W_super,g‖;
C3 spheres of different groups do not overlap, ‖W_super,a − W_super,b‖ ≥ r_a + r_b with
r_g = max_{k∈g} ‖w_sub,k‖. C2 (an inner centre inside its outer sphere) needs a root sphere of
its own and is vacuous for a two-level hierarchy rooted at the origin, so it is not applied.

The metrics D (§3.2, Eqs. 8–9: discrete, continuous, am, gm, hm) live in
:mod:`protogen.distances`, shared with the energies.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from protogen.distances import HIERARCHY_METRICS as METRICS
from protogen.distances import SignSTE, pairwise_distances, sign_ste  # noqa: F401 (re-exported)
from protogen.errors import FileFormatError, InputError

BUNDLED_HIERARCHIES = ("cifar100",)


# ----------------------------------------------------------------------------- files
@dataclass
class Hierarchy:
    """A validated tree: ``children[parent]`` lists sub-classes in file order."""

    children: dict[str, list[str]]
    source: str = ""
    parent: dict[str, str] = field(init=False)

    def __post_init__(self):
        self.parent = {c: p for p, cs in self.children.items() for c in cs}

    @property
    def leaves(self) -> list[str]:
        return [c for cs in self.children.values() for c in cs if c not in self.children]

    def group_ids(self, class_names) -> tuple[np.ndarray, list[str]]:
        """(K,) group index of each class (its immediate parent) and the group names.

        Every class must appear in the hierarchy and every leaf must be a class."""
        names = list(class_names)
        known = set(names)
        unknown = [c for c in self.leaves if c not in known]
        if unknown:
            raise InputError(f"hierarchy {self.source}: unknown classes "
                             f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} "
                             "(not among the data's class names)")
        missing = [c for c in names if c not in self.parent]
        if missing:
            raise InputError(f"hierarchy {self.source}: classes without a super-class: "
                             f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        groups: list[str] = []
        index: dict[str, int] = {}
        ids = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):
            p = self.parent[name]
            if p not in index:
                index[p] = len(groups)
                groups.append(p)
            ids[i] = index[p]
        return ids, groups


def _validate(children: dict[str, list[str]], source: str) -> Hierarchy:
    seen: dict[str, str] = {}
    for parent, kids in children.items():
        if not kids:
            raise FileFormatError(f"hierarchy {source}: super-class {parent!r} has no sub-classes")
        for kid in kids:
            if not kid:
                raise FileFormatError(f"hierarchy {source}: empty class name under {parent!r}")
            if kid in seen:
                where = ("twice under " + repr(parent)) if seen[kid] == parent else \
                    f"under both {seen[kid]!r} and {parent!r}"
                raise FileFormatError(f"hierarchy {source}: duplicate class {kid!r} ({where})")
            seen[kid] = parent
    # A cycle: following parents from some node comes back to it.
    for start in children:
        node, path = start, [start]
        while node in seen:
            node = seen[node]
            if node == start:
                raise FileFormatError(f"hierarchy {source}: cycle "
                                      f"{' -> '.join(reversed(path + [start]))}")
            if node in path:
                break
            path.append(node)
    return Hierarchy(children, source)


def _parse_json(text: str, source: str) -> dict[str, list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"hierarchy {source}: invalid JSON ({exc.msg} at line "
                              f"{exc.lineno})") from None
    if not isinstance(data, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in data.values()):
        raise FileFormatError(f"hierarchy {source}: expected a JSON object mapping each "
                              "super-class to a list of sub-class names")
    return {str(k).strip(): [c.strip() for c in v] for k, v in data.items()}


def _parse_csv(text: str, source: str) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    for n, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if n == 1 and [c.lower() for c in cells] in (["super", "sub"], ["parent", "child"],
                                                     ["superclass", "subclass"]):
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise FileFormatError(f"hierarchy {source}: line {n} should be 'super,sub', got "
                                  f"{','.join(cells)!r}")
        children.setdefault(cells[0], []).append(cells[1])
    return children


def load_hierarchy(spec) -> Hierarchy:
    """A :class:`Hierarchy` from a bundled name (``cifar100``), a .json/.csv path, or a dict."""
    if isinstance(spec, Hierarchy):
        return spec
    if isinstance(spec, dict):
        return _validate({str(k): [str(c) for c in v] for k, v in spec.items()}, "<dict>")
    spec = str(spec)
    from protogen.data import resolve_bundled

    path = resolve_bundled(spec, BUNDLED_HIERARCHIES, "{}_hierarchy.json", "hierarchy",
                           "hierarchy")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(f"hierarchy {spec}: not a UTF-8 text file") from None
    if path.suffix.lower() == ".csv":
        children = _parse_csv(text, spec)
    elif path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        children = _parse_json(text, spec)
    else:
        children = _parse_csv(text, spec)
    if not children:
        raise FileFormatError(f"hierarchy {spec}: no super-classes")
    return _validate(children, spec)


def _mean_upper(mat: torch.Tensor) -> torch.Tensor:
    n = mat.shape[0]
    i, j = torch.triu_indices(n, n, 1, device=mat.device)
    return mat[i, j].mean()


# ----------------------------------------------------------------------------- layers
class HierarchicalLinear(nn.Module):
    """A classifier with W = W_super[g(k)] + w_sub[k] (seed 003 Eqs. 1–3), no bias."""

    def __init__(self, in_features: int, group_ids):
        super().__init__()
        ids = torch.as_tensor(np.asarray(group_ids), dtype=torch.long)
        self.register_buffer("group_ids", ids)
        groups = int(ids.max()) + 1
        self.centers = nn.Parameter(torch.randn(groups, in_features) / math.sqrt(in_features))
        self.subs = nn.Parameter(0.5 * torch.randn(len(ids), in_features)
                                 / math.sqrt(in_features))

    @property
    def weight(self) -> torch.Tensor:
        return self.centers[self.group_ids] + self.subs

    def forward(self, x):
        return x @ self.weight.t()


def decompose(weight: torch.Tensor, group_ids) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres (G, D), sub parts (K, D)) of a plain (K, D) weight: centre = group mean."""
    ids = torch.as_tensor(np.asarray(group_ids), dtype=torch.long, device=weight.device)
    groups = int(ids.max()) + 1
    sums = torch.zeros(groups, weight.shape[1], dtype=weight.dtype, device=weight.device)
    sums = sums.index_add(0, ids, weight)
    counts = torch.bincount(ids, minlength=groups).to(weight.dtype)
    centers = sums / counts[:, None]
    return centers, weight - centers[ids]


def hierarchical_regularization(centers: torch.Tensor, subs: torch.Tensor, group_ids,
                                metric: str = "gm", constraint_weight: float = 1.0,
                                ) -> torch.Tensor:
    """R_p + R_c + λ_C·(C1 + C3) of the module docstring (seed 003 Eqs. 4–7)."""
    ids = np.asarray(group_ids)
    within = []
    radii = []
    for g in range(centers.shape[0]):
        members = np.flatnonzero(ids == g)
        part = subs[torch.as_tensor(members, device=subs.device)]
        radii.append(part.norm(dim=1).max())
        if len(members) >= 2:
            within.append(1 - _mean_upper(pairwise_distances(part, metric)))
    total = torch.stack(within).mean() if within else subs.new_zeros(())
    if centers.shape[0] >= 2:
        total = total + 1 - _mean_upper(pairwise_distances(centers, metric))
    if constraint_weight > 0:
        idx = torch.as_tensor(ids, device=subs.device)
        c1 = F.relu(subs.norm(dim=1) - centers.norm(dim=1)[idx]).mean()
        c3 = subs.new_zeros(())
        if centers.shape[0] >= 2:
            r = torch.stack(radii)
            gap = torch.cdist(centers, centers)
            overlap = F.relu(r[:, None] + r[None, :] - gap)
            c3 = _mean_upper(overlap)
        total = total + constraint_weight * (c1 + c3)
    return total


class HierarchyRegularizer:
    """Callable ``() -> Tensor``: λ·R for the output layer ``layer`` (a weight tensor or a
    :class:`HierarchicalLinear`)."""

    def __init__(self, layer, group_ids, *, metric: str = "gm", weight: float = 0.1,
                 constraint_weight: float = 0.1):
        if metric not in METRICS:
            raise InputError(f"unknown hierarchy metric {metric!r} (choose from "
                             f"{', '.join(METRICS)})")
        self.layer, self.metric = layer, metric
        self.group_ids = np.asarray(group_ids)
        self.weight, self.constraint_weight = float(weight), float(constraint_weight)

    def parts(self):
        if isinstance(self.layer, HierarchicalLinear):
            return self.layer.centers, self.layer.subs
        return decompose(self.layer, self.group_ids)

    def __call__(self) -> torch.Tensor:
        centers, subs = self.parts()
        return self.weight * hierarchical_regularization(centers, subs, self.group_ids,
                                                         self.metric, self.constraint_weight)


# ----------------------------------------------------------------------------- prototypes
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


def _torch_group_term(group_ids, cos_target: float | None = None):
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


def _numpy_group_term(group_ids):
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


def hierarchy_solve(class_names, dim: int, hierarchy, *, method: str = "auto", seed: int = 0,
                    time_limit: float | None = None, progress: bool = True,
                    weight: float = 1.0, angle_fraction: float = 0.93,
                    fitness_weight: float = 10.0, max_cost: float = 0.1, **options):
    """Prototypes whose sub-classes of one super-class lie nearer each other than to others.

    1. the plain solve (``protogen.solvers.solve``): the reference minimum angle θ_plain;
    2. its points re-labelled by :func:`grouped_assignment` (same angles, grouped);
    3. a solve from that start with a group term: ``extra_loss`` = ``weight`` · (mean
       between-group cosine − mean within-group cosine capped at cos(``angle_fraction`` ·
       θ_plain)) for gradient methods, so same-group prototypes are pulled together down to
       that angle and no further; ``extra_fitness`` = ``fitness_weight`` · (mean within − mean
       between cosine) for the EA. Gradient methods refine with one restart unless
       ``restarts`` is given (the start is already good).
    The result of 3 is kept when its minimum angle is within ``max_cost`` (10 %) of θ_plain and
    its within/between ratio is lower than 2's; otherwise 2 is returned. ``time_limit`` is split
    evenly between the two solves. Metadata ``hierarchy_*``: ratio (mean within-group angle /
    mean between-group angle), the two means, the plain ratio and minimum angle, the minimum
    angle and its relative cost, which stage was kept, weight.
    """
    from protogen.solvers import solve
    from protogen.sphere import min_angle_deg

    h = load_hierarchy(hierarchy)
    names = list(class_names)
    ids, groups = h.group_ids(names)
    if len(groups) < 2:
        raise InputError(f"hierarchy {h.source}: the classes fall into a single group; "
                         "nothing to separate")
    if not 0 < angle_fraction <= 1:
        raise InputError(f"angle_fraction must be in (0, 1], got {angle_fraction}")
    if time_limit is not None:
        time_limit = time_limit / 2
    plain = solve(len(names), dim, method, seed=seed, time_limit=time_limit, progress=progress,
                  class_names=names, **options)
    plain_min = float(min_angle_deg(plain.prototypes))
    plain_stats = group_angle_stats(plain.prototypes, ids)
    grouped = grouped_assignment(plain.prototypes, ids, seed=seed)
    grouped_stats = group_angle_stats(grouped, ids)
    term_t = _torch_group_term(ids, math.cos(math.radians(angle_fraction * plain_min)))
    term_n = _numpy_group_term(ids)
    refine_method = "auto" if method == "closed-form" else method
    refine_options = dict(options)
    if refine_method in ("auto", "gradient"):
        refine_options.setdefault("restarts", 1)
    refined = solve(len(names), dim, refine_method, seed=seed, time_limit=time_limit,
                    progress=progress, class_names=names, init=grouped,
                    extra_loss=lambda w: weight * term_t(w),
                    extra_fitness=lambda b: fitness_weight * term_n(b), **refine_options)
    refined_min = float(min_angle_deg(refined.prototypes))
    refined_stats = group_angle_stats(refined.prototypes, ids)
    keep_refined = (refined_min >= (1 - max_cost) * plain_min
                    and refined_stats["ratio"] < grouped_stats["ratio"])
    result = refined if keep_refined else plain
    if not keep_refined:
        result.prototypes = grouped
    stats = refined_stats if keep_refined else grouped_stats
    min_angle = refined_min if keep_refined else float(min_angle_deg(grouped))
    result.class_names = names
    result.elapsed_s = plain.elapsed_s + refined.elapsed_s
    result.metadata.update({
        "hierarchy_source": h.source,
        "hierarchy_groups": len(groups),
        "hierarchy_ratio": stats["ratio"],
        "hierarchy_within_mean_angle_deg": stats["within_mean_angle_deg"],
        "hierarchy_between_mean_angle_deg": stats["between_mean_angle_deg"],
        "hierarchy_min_angle_deg": min_angle,
        "hierarchy_plain_min_angle_deg": plain_min,
        "hierarchy_plain_ratio": plain_stats["ratio"],
        "hierarchy_min_angle_cost": (plain_min - min_angle) / plain_min,
        "hierarchy_stage": "refined" if keep_refined else "grouped",
        "hierarchy_weight": weight,
        "hierarchy_angle_fraction": angle_fraction,
    })
    result.params.setdefault("hierarchy", h.source)
    return result

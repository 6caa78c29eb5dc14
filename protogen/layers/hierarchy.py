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
  R_p = 1/G Σ_g 2/(n_g(n_g − 1)) Σ_{i<j ∈ g} S(w_sub,i, w_sub,j)   (within a group, Eq. 6)
  R_c = 2/(G(G − 1)) Σ_{a<b} S(W_super,a, W_super,b)              (across groups, Eq. 7)
where S = 1 − D for an angular distance D ∈ [0, 1] (Eq. 9, the paper's reversed form) or the
cosine similarity of Eqs. 10–11 (:func:`protogen.distances.pairwise_similarity`), so minimising
R spreads sub-classes within their group and the groups apart.

Mini-batch hierarchy (§3.1.2, "E(R(W)) = 1/|m_x| Σ_{m_x} R(W; m_x)", and §4.1: "the global
hierarchical structure is not given ... partial hierarchical structure is shown within each
mini-batch"): called with the batch's ``labels`` (scope ``batch``, the default) R is computed on
the classes present in the batch and their super-classes only (a plain layer's centres are then
the means of the present classes' rows); scope ``full`` or no labels uses every class.

Energy term 'E' (§4.1 "Baseline setting", Tables 1–6): λ_e Σ_layers mean_{i<j} S(w_i, w_j)
over the neurons of each layer with the same metrics (:class:`MetricEnergyRegularizer`). Constraints (Appendix,
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

from protogen.distances import (SignSTE, check_metric, pairwise_distances,  # noqa: F401
                                pairwise_similarity, sign_ste)
from protogen.errors import FileFormatError, InputError

BUNDLED_HIERARCHIES = ("cifar100",)
SCOPES = ("batch", "full")


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
            within.append(_mean_upper(pairwise_similarity(part, metric)))
    total = torch.stack(within).mean() if within else subs.new_zeros(())
    if centers.shape[0] >= 2:
        total = total + _mean_upper(pairwise_similarity(centers, metric))
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
    """Callable ``(labels=None) -> Tensor``: λ·R for the output layer ``layer`` (a weight
    tensor or a :class:`HierarchicalLinear`); with ``labels`` and scope ``batch`` R covers the
    classes present in the mini-batch (the paper's)."""

    wants_labels = True

    def __init__(self, layer, group_ids, *, metric: str = "gm", weight: float = 0.1,
                 constraint_weight: float = 0.1, scope: str = "batch"):
        check_metric(metric)
        if scope not in SCOPES:
            raise InputError(f"unknown hierarchy scope {scope!r} (choose from batch, full)")
        self.layer, self.metric, self.scope = layer, metric, scope
        self.group_ids = np.asarray(group_ids)
        self.weight, self.constraint_weight = float(weight), float(constraint_weight)

    def parts(self, classes=None):
        """(centres, sub parts, group index of each sub part) of all or the given classes."""
        ids = self.group_ids
        if classes is not None:
            groups, ids = np.unique(self.group_ids[classes], return_inverse=True)
            idx = torch.as_tensor(classes, dtype=torch.long)
        if isinstance(self.layer, HierarchicalLinear):
            if classes is None:
                return self.layer.centers, self.layer.subs, ids
            return (self.layer.centers[torch.as_tensor(groups, device=self.layer.subs.device)],
                    self.layer.subs[idx.to(self.layer.subs.device)], ids)
        w = self.layer if classes is None else self.layer[idx.to(self.layer.device)]
        return (*decompose(w, ids), ids)

    def __call__(self, labels=None) -> torch.Tensor:
        classes = None
        if labels is not None and self.scope == "batch":
            classes = np.unique(torch.as_tensor(labels).detach().cpu().numpy())
        centers, subs, ids = self.parts(classes)
        return self.weight * hierarchical_regularization(centers, subs, ids, self.metric,
                                                         self.constraint_weight)


class MetricEnergyRegularizer:
    """Callable ``() -> Tensor``: DH2L's energy term 'E' (§4.1), λ_e Σ_layers mean_{i<j}
    S(w_i, w_j) over each layer's neurons (rows of the flattened weight), S the metric's
    similarity (1 − D, or the cos-* similarity).

    §4.1 writes the term as λ_e Σ_{i≠j} d(w_i, w_j); ``reduction="mean"`` (the default)
    divides by the number of pairs, as MHE's Eq. 4 (which the paper cites for 'E') and the
    paper's own Eqs. 6–7 do, so one λ_e fits layers of any width; ``reduction="sum"`` is the
    literal Σ over ordered pairs i ≠ j (2 Σ_{i<j})."""

    def __init__(self, weights: list, metric: str = "gm", weight: float = 0.1,
                 reduction: str = "mean"):
        check_metric(metric)
        if not weight >= 0:
            raise InputError(f"the energy weight must be >= 0, got {weight}")
        if reduction not in ("mean", "sum"):
            raise InputError(f"reduction must be mean or sum, got {reduction!r}")
        self.weights = [w for w in weights if w.flatten(1).shape[0] >= 2]
        self.metric, self.weight, self.reduction = metric, float(weight), reduction

    def __call__(self) -> torch.Tensor:
        if not self.weights:
            return torch.zeros(())
        terms = []
        for w in self.weights:
            mean = _mean_upper(pairwise_similarity(w.flatten(1), self.metric))
            n = w.flatten(1).shape[0]
            terms.append(mean if self.reduction == "mean" else mean * n * (n - 1))
        return self.weight * torch.stack(terms).sum()


class HierarchicalSoftmaxHead(nn.Module):
    """Softmax cross-entropy on a :class:`HierarchicalLinear` classifier (learnable super-class
    centres, W = W_super[g(k)] + w_sub[k], no bias: seed 003 Eq. 3 and its Appendix, "a bias
    term in the FC layer is not used")."""

    task = "classification"

    def __init__(self, in_dim: int, group_ids):
        super().__init__()
        self.linear = HierarchicalLinear(in_dim, group_ids)

    def forward(self, features):
        return features

    def logits(self, x):
        return self.linear(x.to(self.linear.subs.dtype))

    def loss(self, outputs, targets):
        return F.cross_entropy(self.logits(outputs), targets)

    def predict(self, outputs):
        return self.logits(outputs).argmax(dim=1)

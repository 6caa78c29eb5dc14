"""Hyperspherical prototype losses as torch modules, for your own training loop (seed 000 §2).

    protos = protogen.load_prototypes("prototypes.h5").prototypes      # (K, D)
    crit = protogen.nn.PrototypeLoss(protos)                           # a buffer: follows .to()
    loss = crit(net(x), labels); loss.backward()
    predicted = crit.predict(net(x))

Classification, Eq. (1):  L_c = Σ_i (1 − cos θ(z_i, p_{y_i}))²,  prediction Eq. (4): argmax_c cos θ(z, p_c).
Regression, Eqs. (6)–(7): r_i = 2 (y_i − v_l) / (v_u − v_l) − 1,  L_r = Σ_i (r_i − cos θ(z_i, p_u))²,
with p_l = −p_u; a prediction maps cos θ(z, p_u) ∈ [−1, 1] back to [v_l, v_u].
Joint (§2.3): L = w_c L_c + w_r L_r, classes and p_u in orthogonal subspaces of one output.

``reduction="sum"`` is the paper's Eq. (1) and the official code (``.pow(2).sum()``);
``"mean"`` divides by the batch size (the same direction, a step 1/B as large for plain SGD;
Adam does not care). The CLI trainer uses these same modules.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from protogen.errors import InputError

# Outputs of exactly zero have no direction; cosine uses this floor on the norm.
EPS = 1e-8
REDUCTIONS = ("sum", "mean")


def _reduce(per_example: torch.Tensor, reduction: str) -> torch.Tensor:
    return per_example.sum() if reduction == "sum" else per_example.mean()


def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise InputError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    return reduction


def cosine_to(outputs: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """cos θ between every output row (B, D) and every prototype row (K, D) → (B, K)."""
    z = F.normalize(outputs, dim=1, eps=EPS)
    p = F.normalize(prototypes, dim=1, eps=EPS)
    return z @ p.t()


def prototype_loss(outputs: torch.Tensor, prototypes: torch.Tensor, labels: torch.Tensor, *,
                   reduction: str = "mean", unit_prototypes: bool = False) -> torch.Tensor:
    """Eq. (1): (1 − cos θ(z_i, p_{y_i}))², summed or averaged over the batch. Only the true
    class's cosine is needed. ``unit_prototypes`` skips normalising rows that are already unit."""
    p = prototypes.index_select(0, labels)
    if not unit_prototypes:
        p = F.normalize(p, dim=1, eps=EPS)
    cos = torch.linalg.vecdot(outputs, p) / torch.linalg.vector_norm(outputs, dim=1).clamp_min(EPS)
    return _reduce((1.0 - cos) ** 2, reduction)


def prototype_predict(outputs: torch.Tensor, prototypes: torch.Tensor, *,
                      unit_prototypes: bool = False) -> torch.Tensor:
    """Eq. (4): the class whose prototype has the largest cosine with the output. Dividing by
    ‖z‖ does not change the argmax, so with unit prototypes this is argmax_c z·p_c."""
    p = prototypes if unit_prototypes else F.normalize(prototypes, dim=1, eps=EPS)
    return (outputs @ p.t()).argmax(dim=1)


def regression_target(values: torch.Tensor, lower: float, upper: float) -> torch.Tensor:
    """Eq. (7): r = 2 (y − v_l) / (v_u − v_l) − 1, in [−1, 1] for values within the bounds."""
    return 2.0 * (values - lower) / (upper - lower) - 1.0


def regression_value(cosines: torch.Tensor, lower: float, upper: float) -> torch.Tensor:
    """Inverse of Eq. (7): a cosine to p_u back to the value range [v_l, v_u]."""
    return lower + (cosines + 1.0) * 0.5 * (upper - lower)


def regression_loss(outputs: torch.Tensor, upper_prototype: torch.Tensor, values: torch.Tensor,
                    lower: float, upper: float, *, reduction: str = "mean") -> torch.Tensor:
    """Eq. (6): (r_i − cos θ(z_i, p_u))², summed or averaged over the batch."""
    cos = cosine_to(outputs, upper_prototype.reshape(1, -1))[:, 0]
    return _reduce((regression_target(values, lower, upper) - cos) ** 2, reduction)


def regression_predict(outputs: torch.Tensor, upper_prototype: torch.Tensor,
                       lower: float, upper: float) -> torch.Tensor:
    cos = cosine_to(outputs, upper_prototype.reshape(1, -1))[:, 0]
    return regression_value(cos, lower, upper)


def squared_regression_loss(prediction: torch.Tensor, values: torch.Tensor, lower: float,
                            upper: float, *, reduction: str = "mean") -> torch.Tensor:
    """The paper's baseline (§3.2): squared loss on labels normalised to [0, 1] by the bounds."""
    target = (values - lower) / (upper - lower)
    return _reduce((prediction.reshape(-1) - target) ** 2, reduction)


def _unit_rows(array, what: str, dim: int | None = None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(array, dtype=np.float32))
    if t.ndim != 2 or t.shape[0] < 1 or (dim is not None and t.shape[1] != dim):
        raise InputError(f"{what} must be a (K, D) array, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all() or (t.norm(dim=1) == 0).any():
        raise InputError(f"{what} must be finite and non-zero")
    # Unit rows once here (exact in float32), so each step skips normalising them.
    return F.normalize(t, dim=1)


def _check_bounds(lower: float, upper: float) -> tuple[float, float]:
    lower, upper = float(lower), float(upper)
    if not (np.isfinite(lower) and np.isfinite(upper) and upper > lower):
        raise InputError(f"regression bounds need lower < upper, got {lower}, {upper}")
    return lower, upper


class PrototypeLoss(nn.Module):
    """Classification with fixed prototypes: ``loss = crit(outputs, labels)`` (Eq. 1),
    ``crit.predict(outputs)`` (Eq. 4). ``prototypes`` (K, D) become a unit-row buffer that
    follows ``.to(device)`` and is saved in ``state_dict`` but never trained."""

    def __init__(self, prototypes, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.register_buffer("prototypes", _unit_rows(prototypes, "prototypes"))

    def forward(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return prototype_loss(outputs.float(), self.prototypes, labels, reduction=self.reduction,
                              unit_prototypes=True)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return prototype_predict(outputs.float(), self.prototypes, unit_prototypes=True)


class RegressionPrototypeLoss(nn.Module):
    """Regression between two opposite prototypes p_u and p_l = −p_u (Eqs. 6–7): values in
    [lower, upper] map to cosines in [−1, 1]; ``predict`` maps back to label units."""

    def __init__(self, upper_prototype, lower: float, upper: float, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.lower, self.upper = _check_bounds(lower, upper)
        self.register_buffer("upper_prototype",
                             _unit_rows(np.reshape(upper_prototype, (1, -1)), "upper_prototype")[0])

    def forward(self, outputs: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return regression_loss(outputs.float(), self.upper_prototype, values.float(), self.lower,
                               self.upper, reduction=self.reduction)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return regression_predict(outputs.float(), self.upper_prototype, self.lower, self.upper)


class JointPrototypeLoss(nn.Module):
    """Joint classification + regression in one output space (§2.3):
    ``w_c · L_c + w_r · L_r``. The class prototypes and p_u should be orthogonal (the trainer
    places the classes in the first D−1 coordinates and p_u on the last axis)."""

    def __init__(self, prototypes, upper_prototype, lower: float, upper: float, *,
                 class_weight: float = 1.0, regression_weight: float = 1.0,
                 reduction: str = "mean"):
        super().__init__()
        self.classes = PrototypeLoss(prototypes, reduction)
        self.regression = RegressionPrototypeLoss(upper_prototype, lower, upper, reduction)
        if self.classes.prototypes.shape[1] != self.regression.upper_prototype.shape[0]:
            raise InputError("class prototypes and the regression prototype differ in dimension")
        self.class_weight, self.regression_weight = float(class_weight), float(regression_weight)

    def forward(self, outputs: torch.Tensor, labels: torch.Tensor,
                values: torch.Tensor) -> torch.Tensor:
        return (self.class_weight * self.classes(outputs, labels)
                + self.regression_weight * self.regression(outputs, values))

    def predict(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classes.predict(outputs), self.regression.predict(outputs)

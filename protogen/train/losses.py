"""Losses of hyperspherical prototype networks (seed 000, §2.1–§2.3), in torch.

Classification, Eq. (1):  L_c = Σ_i (1 − cos θ(z_i, p_{y_i}))²,  prediction Eq. (4): argmax_c cos θ(z, p_c).
Regression, Eqs. (6)–(7): r_i = 2 (y_i − v_l) / (v_u − v_l) − 1,  L_r = Σ_i (r_i − cos θ(z_i, p_u))²,
with p_l = −p_u; a prediction maps cos θ(z, p_u) ∈ [−1, 1] back to [v_l, v_u].
Joint (§2.3): L = w_c L_c + w_r L_r with classes and p_u in orthogonal subspaces.

We average over the batch instead of summing (only rescales the learning rate, and keeps the
loss independent of the batch size, which DDP's gradient averaging assumes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Outputs of exactly zero have no direction; cosine uses this floor on the norm.
EPS = 1e-8


def cosine_to(outputs: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """cos θ between every output row (B, D) and every prototype row (K, D) → (B, K)."""
    z = F.normalize(outputs, dim=1, eps=EPS)
    p = F.normalize(prototypes, dim=1, eps=EPS)
    return z @ p.t()


def prototype_loss(outputs: torch.Tensor, prototypes: torch.Tensor, labels: torch.Tensor, *,
                   unit_prototypes: bool = False) -> torch.Tensor:
    """Eq. (1), batch mean of (1 − cos θ(z_i, p_{y_i}))². Only the true class's cosine is needed.
    ``unit_prototypes`` skips normalising rows that are already unit (fewer small ops per step)."""
    p = prototypes.index_select(0, labels)
    if not unit_prototypes:
        p = F.normalize(p, dim=1, eps=EPS)
    cos = torch.linalg.vecdot(outputs, p) / torch.linalg.vector_norm(outputs, dim=1).clamp_min(EPS)
    return ((1.0 - cos) ** 2).mean()


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
                    lower: float, upper: float) -> torch.Tensor:
    """Eq. (6), batch mean of (r_i − cos θ(z_i, p_u))²."""
    cos = cosine_to(outputs, upper_prototype.reshape(1, -1))[:, 0]
    return ((regression_target(values, lower, upper) - cos) ** 2).mean()


def regression_predict(outputs: torch.Tensor, upper_prototype: torch.Tensor,
                       lower: float, upper: float) -> torch.Tensor:
    cos = cosine_to(outputs, upper_prototype.reshape(1, -1))[:, 0]
    return regression_value(cos, lower, upper)


def squared_regression_loss(prediction: torch.Tensor, values: torch.Tensor,
                            lower: float, upper: float) -> torch.Tensor:
    """The paper's baseline (§3.2): squared loss on labels normalised to [0, 1] by the bounds."""
    target = (values - lower) / (upper - lower)
    return ((prediction.reshape(-1) - target) ** 2).mean()

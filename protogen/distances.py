"""Distances on the sphere in torch: the one module the energies and the hierarchy regulariser share.

- :func:`chord_from_cosine` -- the chord ||a - b|| = sqrt(2 - 2 cos) of unit vectors, the distance
  of the Riesz energies (MHE, seed 002, Eq. 1);
- :func:`geodesic_from_cosine` -- the angle arccos(cos) in radians (angular MHE, Eq. 5, and the
  continuous metric of DH2L);
- :func:`pairwise_distances` -- DH2L's angular distances D in [0, 1] between rows (seed 003
  §3.2, Eqs. 8-9; the extracted text of both is garbled, the forms follow the prose):

  discrete   θ_Dh = (1 − D_h)/2, D_h = 1/d Σ_k sign(u_k) sign(v_k) (normalised Hamming, Eq. 8);
             sign(0) = +1, backward through the saturated straight-through estimator
             1_{|x| ≤ 1} (§3.3, Bengio et al. 2013);
  continuous θ = arccos(clamp(cos, −0.99, 0.99)) / π (the clamp of §3.3);
  am = (θ_Dh + θ)/2, gm = √(θ_Dh θ), hm = 2 θ_Dh θ / (θ_Dh + θ) (Eq. 9).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from protogen.errors import InputError

HIERARCHY_METRICS = ("am", "gm", "hm", "discrete", "continuous")
_CONTINUOUS_CLAMP = 0.99  # DH2L §3.3
_MEAN_EPS = 1e-8          # keeps sqrt and the harmonic mean differentiable at zero


def chord_from_cosine(cos: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """||a − b|| = sqrt(2 − 2 cos) for unit vectors, floored at ``eps`` so that coincident
    points keep a finite kernel and gradient."""
    return torch.sqrt((2 - 2 * cos).clamp_min(eps * eps))


def geodesic_from_cosine(cos: torch.Tensor, limit: float = 1.0) -> torch.Tensor:
    """The angle arccos(cos) in radians, with cos clamped into [−limit, limit] (arccos has an
    infinite slope at ±1, so gradient users pass limit < 1)."""
    return torch.arccos(cos.clamp(-limit, limit))


class SignSTE(torch.autograd.Function):
    """sign(x) with sign(0) = +1; backward: the saturated straight-through estimator
    ∂/∂x ≈ 1_{|x| ≤ 1} (seed 003 §3.3)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    return SignSTE.apply(x)


def pairwise_distances(x: torch.Tensor, metric: str = "gm") -> torch.Tensor:
    """(n, n) matrix of DH2L's angular distance D ∈ [0, 1] between the rows of ``x`` (Eqs. 8–9)."""
    if metric not in HIERARCHY_METRICS:
        raise InputError(f"unknown hierarchy metric {metric!r} (choose from "
                         f"{', '.join(HIERARCHY_METRICS)})")
    theta = theta_dh = None
    if metric != "discrete":
        u = F.normalize(x, dim=1)
        theta = geodesic_from_cosine(u @ u.t(), _CONTINUOUS_CLAMP) / math.pi
    if metric != "continuous":
        s = sign_ste(x)
        theta_dh = (1 - (s @ s.t()) / x.shape[1]) / 2
    if metric == "continuous":
        return theta
    if metric == "discrete":
        return theta_dh
    if metric == "am":
        return (theta_dh + theta) / 2
    if metric == "gm":
        return torch.sqrt(theta_dh * theta + _MEAN_EPS)
    return 2 * theta_dh * theta / (theta_dh + theta + _MEAN_EPS)

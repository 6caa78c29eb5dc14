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
  am = (θ_Dh + θ)/2, gm = √(θ_Dh θ), hm = 2 θ_Dh θ / (θ_Dh + θ) (Eq. 9);
  cos-am, cos-gm, cos-hm: the Pythagorean means of the cosine similarities normalised to [0, 1],
             c_Dh = (cos(π θ_Dh) + 1)/2 and c = (cos(π θ) + 1)/2 (Eqs. 10–11):
             cos-am = (c_Dh + c)/2 = (cos πθ_Dh + cos πθ + 2)/4,
             cos-hm = 2 c_Dh c/(c_Dh + c) = (cos πθ_Dh + 1)(cos πθ + 1)/(cos πθ_Dh + cos πθ + 2),
             cos-gm = √(c_Dh c). Eq. 11's cos-am and cos-hm are readable and are exactly these
             means; its cos-gm reads (cos πθ_Dh + 1)(cos πθ + 1)/4 = c_Dh·c, i.e. the square
             root (the radical) was lost in extraction, so the geometric mean is used.
             These three are *similarities* (1 for coincident rows), the others distances.

Modifiers of the discrete part (a suffix of the metric name, e.g. ``hm-arccos``,
``discrete-ternary``, ``cos-am-ternary-arccos``):

  -ternary   sign(x) ∈ {−1, 0, +1} with sign(0) = 0 (§3.2, "for a ternary discrete"; the
             paper gives no dead zone, so only exact zeros map to 0);
  -arccos    D′: θ′_Dh = arccos(D_h)/π instead of (1 − D_h)/2 (footnote 4), clamped like
             the continuous angle (its slope is infinite at ±1).

:func:`pairwise_similarity` gives what the regularisers minimise: 1 − D for a distance D (the
paper's "reversed form", §3.2) and the similarity itself for the cos-* metrics.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from protogen.errors import InputError

HIERARCHY_METRICS = ("am", "gm", "hm", "discrete", "continuous", "cos-am", "cos-gm", "cos-hm")
METRIC_MODIFIERS = ("ternary", "arccos")
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
    """sign(x) with sign(0) = +1 (binary) or 0 (``ternary``); backward: the saturated
    straight-through estimator ∂/∂x ≈ 1_{|x| ≤ 1} (seed 003 §3.3)."""

    @staticmethod
    def forward(ctx, x, ternary: bool = False):
        ctx.save_for_backward(x)
        if ternary:
            return torch.sign(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype), None


def sign_ste(x: torch.Tensor, ternary: bool = False) -> torch.Tensor:
    return SignSTE.apply(x, ternary)


def parse_metric(name: str) -> tuple[str, bool, bool]:
    """(base metric, ternary, arccos) of a name such as ``cos-hm-ternary-arccos``."""
    text = str(name).strip().lower()
    ternary = arccos = False
    changed = True
    while changed:
        changed = False
        for mod in METRIC_MODIFIERS:
            if text.endswith("-" + mod):
                text = text[: -len(mod) - 1]
                ternary |= mod == "ternary"
                arccos |= mod == "arccos"
                changed = True
    if text not in HIERARCHY_METRICS or ((ternary or arccos) and text == "continuous"):
        raise InputError(f"unknown hierarchy metric {name!r} (choose from "
                         f"{', '.join(HIERARCHY_METRICS)}; all but continuous take the "
                         "suffixes -ternary and/or -arccos)")
    return text, ternary, arccos


def check_metric(name: str) -> str:
    """``name`` if it is a valid metric name, else a one-line InputError."""
    parse_metric(name)
    return name


def _discrete_angle(x: torch.Tensor, ternary: bool, arccos: bool) -> torch.Tensor:
    """θ_Dh ∈ [0, 1] between rows from D_h = (1/d) Σ_k sign(u_k) sign(v_k) (Eq. 8)."""
    s = sign_ste(x, ternary)
    d_h = (s @ s.t()) / x.shape[1]
    if arccos:
        return geodesic_from_cosine(d_h, _CONTINUOUS_CLAMP) / math.pi   # D′, footnote 4
    return (1 - d_h) / 2


def _metric_matrix(x: torch.Tensor, metric: str) -> tuple[torch.Tensor, bool]:
    """(matrix, is_similarity) of ``metric`` between the rows of ``x``."""
    base, ternary, arccos = parse_metric(metric)
    theta = theta_dh = None
    if base != "discrete":
        u = F.normalize(x, dim=1)
        theta = geodesic_from_cosine(u @ u.t(), _CONTINUOUS_CLAMP) / math.pi
    if base != "continuous":
        theta_dh = _discrete_angle(x, ternary, arccos)
    if base == "continuous":
        return theta, False
    if base == "discrete":
        return theta_dh, False
    if base == "am":
        return (theta_dh + theta) / 2, False
    if base == "gm":
        return torch.sqrt(theta_dh * theta + _MEAN_EPS), False
    if base == "hm":
        return 2 * theta_dh * theta / (theta_dh + theta + _MEAN_EPS), False
    c_dh = (torch.cos(math.pi * theta_dh) + 1) / 2      # Eq. 10, normalised to [0, 1]
    c = (torch.cos(math.pi * theta) + 1) / 2
    if base == "cos-am":
        return (c_dh + c) / 2, True
    if base == "cos-gm":
        return torch.sqrt(c_dh * c + _MEAN_EPS), True
    return 2 * c_dh * c / (c_dh + c + _MEAN_EPS), True   # cos-hm


def pairwise_distances(x: torch.Tensor, metric: str = "gm") -> torch.Tensor:
    """(n, n) matrix of DH2L's angular distance D ∈ [0, 1] between the rows of ``x``
    (Eqs. 8–9; for the cos-* similarities of Eqs. 10–11, D = 1 − similarity)."""
    mat, similarity = _metric_matrix(x, metric)
    return 1 - mat if similarity else mat


def pairwise_similarity(x: torch.Tensor, metric: str = "gm") -> torch.Tensor:
    """(n, n) matrix of what DH2L minimises between rows: 1 − D for the distances of Eq. 9
    (the reversed form of §3.2), the similarity itself for the cos-* metrics of Eq. 11."""
    mat, similarity = _metric_matrix(x, metric)
    return mat if similarity else 1 - mat

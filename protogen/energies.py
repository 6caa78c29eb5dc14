"""Hyperspherical energies in torch: the one definition shared by the solvers and the trainer.

Seed 002 (MHE), Eq. (1): for directions ŵ_i = w_i / ||w_i||,

    E_s = Σ_{i≠j} f_s(||ŵ_i − ŵ_j||),   f_s(z) = z^(−s) for s > 0 (Riesz s-kernel),
                                          f_0(z) = log(1/z)   (logarithmic energy, s → 0).

Here the sum runs over unordered pairs i < j (half of the paper's ordered sum);
``reduction="mean"`` divides by the number of pairs, which equals the paper's normalised
regulariser 1/(N(N−1)) Σ_{i≠j} f_s of the training loss (Eq. 4). Variants from §3.4–3.6:

- half-space MHE: the energy of the 2N points {ŵ_k} ∪ {−ŵ_k}; the N pairs (ŵ_k, −ŵ_k) are
  constant (distance 2) and left out, so the sum is 2 Σ_{i<j} [f(d_ij) + f(d'_ij)] with d' the
  distance from ŵ_i to −ŵ_j;
- angular MHE (A-MHE, Eq. 5, used in place of E_s in Eq. 4): the geodesic distance
  arccos(ŵ_i·ŵ_j) replaces the chord;
- mini-batch MHE (§3.6) is this energy of a random subset of rows: pass ``w[batch]``.

s = ∞ is the Tammes problem; :func:`smooth_max_cosine` is its smooth surrogate.

Every pairwise reduction takes ``chunk_size``: rows are processed in blocks against the rows
after them, and each block is wrapped in activation checkpointing so that forward *and* backward
memory stay O(N · chunk) instead of O(N²).
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from protogen.distances import chord_from_cosine, geodesic_from_cosine
from protogen.errors import InputError

# Blocks of cosines are kept under this many elements when chunk_size is None.
_DEFAULT_BLOCK_ELEMENTS = 2**23


def _directions(w: torch.Tensor, normalize: bool) -> torch.Tensor:
    if w.dim() != 2 or w.shape[0] < 2:
        raise InputError(f"energies need an (N >= 2, D) matrix, got shape {tuple(w.shape)}")
    return torch.nn.functional.normalize(w, dim=1) if normalize else w


def _block_rows(num: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, min(num, _DEFAULT_BLOCK_ELEMENTS // max(num, 1)))
    if int(chunk_size) < 1:
        raise InputError("chunk_size must be a positive integer")
    return int(chunk_size)


def _eps(dtype) -> float:
    return 1e-7 if dtype == torch.float64 else 1e-4


def _kernel(dist: torch.Tensor, s: float) -> torch.Tensor:
    return -torch.log(dist) if s == 0 else dist.pow(-s)


def _distance(cos: torch.Tensor, angular: bool) -> torch.Tensor:
    if angular:
        # arccos(-1 + e) = pi - sqrt(2e): the clamp costs ~sqrt(2e) radians at the antipode, so
        # it is kept near the float resolution (arccos' infinite slope at ±1 is cut off by it).
        tight = 1e-15 if cos.dtype == torch.float64 else 1e-6
        return geodesic_from_cosine(cos, 1 - tight)
    # Clamped so that coincident points stay finite.
    return chord_from_cosine(cos, _eps(cos.dtype))


def _upper_blocks(u: torch.Tensor, chunk_size: int | None, block_fn):
    """Sum of ``block_fn(cos_block, mask)`` over blocks of the strict upper triangle.

    Row block [a, b) is compared with rows [a, N); ``mask`` keeps pairs j > i.
    """
    num = u.shape[0]
    step = _block_rows(num, chunk_size)
    total = u.new_zeros(())
    use_checkpoint = u.requires_grad and step < num

    for start in range(0, num, step):
        stop = min(num, start + step)

        def block(u_, start=start, stop=stop):
            cos = u_[start:stop] @ u_[start:].T
            rows = torch.arange(start, stop, device=u_.device).unsqueeze(1)
            cols = torch.arange(start, num, device=u_.device).unsqueeze(0)
            return block_fn(cos, cols > rows)

        total = total + (checkpoint(block, u, use_reentrant=False) if use_checkpoint
                         else block(u))
    return total


def riesz_energy(w: torch.Tensor, s: float = 1.0, *, half_space: bool = False,
                 angular: bool = False, reduction: str = "sum", chunk_size: int | None = None,
                 normalize: bool = True) -> torch.Tensor:
    """Riesz s-energy (s > 0) or logarithmic energy (s = 0) of the rows of ``w`` (MHE Eq. 1).

    Differentiable in ``w``; see the module docstring for half-space, angular and reduction.
    """
    if s < 0 or not math.isfinite(s):
        raise InputError(f"the Riesz exponent s must be finite and >= 0, got {s}")
    if reduction not in ("sum", "mean"):
        raise InputError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    u = _directions(w, normalize)

    def block_fn(cos, mask):
        # Masked entries (diagonal, lower triangle) get a harmless cosine so that no inf/NaN
        # reaches the backward pass through torch.where.
        cos = torch.where(mask, cos, torch.zeros_like(cos))
        energy = _kernel(_distance(cos, angular), s)
        if half_space:
            energy = 2 * (energy + _kernel(_distance(-cos, angular), s))
        return torch.where(mask, energy, torch.zeros_like(energy)).sum()

    total = _upper_blocks(u, chunk_size, block_fn)
    if reduction == "mean":
        num = u.shape[0]
        pairs = num * (num - 1) / 2 * (4 if half_space else 1)
        total = total / pairs
    return total


def log_energy(w: torch.Tensor, **kwargs) -> torch.Tensor:
    """Logarithmic hyperspherical energy E_0 (MHE §3.1): Σ_{i<j} log(1/||ŵ_i − ŵ_j||)."""
    return riesz_energy(w, 0.0, **kwargs)


def pairwise_cosines(w: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """(N, N) cosine matrix (diagonal included). O(N²) memory: use for small N."""
    u = _directions(w, normalize)
    return (u @ u.T).clamp(-1.0, 1.0)


def max_cosine(w: torch.Tensor, chunk_size: int | None = None,
               normalize: bool = True) -> torch.Tensor:
    """Largest cosine between distinct rows (the Tammes objective), block by block."""
    u = _directions(w, normalize)
    num = u.shape[0]
    step = _block_rows(num, chunk_size)
    best = None
    for start in range(0, num, step):
        stop = min(num, start + step)
        cos = u[start:stop] @ u.T
        idx = torch.arange(stop - start, device=u.device)
        cos = cos.index_put((idx, idx + start), torch.tensor(-math.inf, dtype=cos.dtype,
                                                              device=cos.device))
        block_max = cos.max()
        best = block_max if best is None else torch.maximum(best, block_max)
    return best.clamp(-1.0, 1.0)


def smooth_max_cosine(w: torch.Tensor, temperature: float, chunk_size: int | None = None,
                      normalize: bool = True) -> torch.Tensor:
    """Log-sum-exp smooth maximum of the pairwise cosines, (1/t) log Σ_{i<j} exp(t cos_ij).

    It upper-bounds the max cosine and exceeds it by at most log(#pairs)/t, so it tends to the
    Tammes objective as the temperature t grows (the s → ∞ limit of MHE, §3.7). Computed stably
    block by block: each (checkpointed) block of rows yields its own log-sum-exp, and those are
    combined by one more log-sum-exp, so no separate pass for the maximum is needed.
    """
    if temperature <= 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    u = _directions(w, normalize)
    num = u.shape[0]
    step = _block_rows(num, chunk_size)
    use_checkpoint = u.requires_grad and step < num
    parts = []
    for start in range(0, min(num - 1, num), step):
        stop = min(num - 1, start + step)  # the last row has no pair after it

        def block(u_, start=start, stop=stop):
            cos = u_[start:stop] @ u_[start:].T
            rows = torch.arange(start, stop, device=u_.device).unsqueeze(1)
            cols = torch.arange(start, num, device=u_.device).unsqueeze(0)
            z = torch.where(cols > rows, temperature * cos, torch.full_like(cos, -math.inf))
            return torch.logsumexp(z.reshape(-1), dim=0)

        parts.append(checkpoint(block, u, use_reentrant=False) if use_checkpoint else block(u))
    return torch.logsumexp(torch.stack(parts), dim=0) / temperature


# --- dense batched smooth maximum (small codes, several at once) ------------------------------

def pair_mask(num: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """(num, num) additive mask: 0 on the strict upper triangle, -inf elsewhere, so that adding
    it to a cosine matrix keeps each unordered pair once and drops the diagonal."""
    upper = torch.ones(num, num, dtype=torch.bool, device=device).triu(1)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(upper, zero, torch.full((), -math.inf, dtype=dtype, device=device))


def masked_pair_cosines(u: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cosines of unit rows, (..., K, K), batched over leading axes, plus :func:`pair_mask`:
    each pair once, -inf elsewhere. Its maximum is the max cosine of each code."""
    return u @ u.transpose(-1, -2) + mask


def dense_smooth_max(masked_cos: torch.Tensor, temperature: float) -> torch.Tensor:
    """(1/t) log Σ_{i<j} exp(t cos_ij) of each code in a batch of :func:`masked_pair_cosines`.

    The dense twin of :func:`smooth_max_cosine` (same value up to float summation order), for
    codes small enough that (R, K, K) fits at once; returns shape (...) of the leading axes.
    """
    return torch.logsumexp(temperature * masked_cos.flatten(-2), dim=-1) / temperature


def code_energy(points, s: float = 1.0, **kwargs) -> float:
    """:func:`riesz_energy` of a numpy (or torch) code as a float, in float64, no gradient."""
    with torch.no_grad():
        return float(riesz_energy(torch.as_tensor(points, dtype=torch.float64), s, **kwargs))

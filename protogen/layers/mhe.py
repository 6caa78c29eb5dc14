"""Minimum hyperspherical energy (seed 002) as a network regulariser.

Eq. (4): λ_h · Σ_{hidden layers j} 1/(N_j(N_j − 1)) {E_s}_j + λ_o · 1/(N_L(N_L − 1)) E_s(ŵ^out),
i.e. the *mean* pairwise energy of each layer's normalised neurons. The energy itself is
:func:`protogen.energies.riesz_energy` (the solvers' definition, ``reduction="mean"``): s = 0
(logarithmic), 1, 2, …; ``half_space`` (§3.4, the neurons and their antipodes; hidden layers
only, the paper notes it cannot apply to classifier neurons); ``angular`` (A-MHE, §3.5, Eq. 5).

Mini-batch approximation (§3.6): a hidden layer with more than ``batch`` neurons contributes
the energy of a random subset of ``batch`` of them, drawn afresh at every call from a generator
seeded by ``seed`` (an unbiased estimate of the mean energy). The output layer's
*data-dependent* approximation (``output-mode=data``, §3.6 and SphereFace+'s Eq. 8) takes the
classifier neurons of the classes in the mini-batch: with labels y_1..y_m,

    T_o = 1/(m(N − 1)) Σ_{i=1}^{m} Σ_{j ≠ y_i} f_s(‖ŵ_{y_i} − ŵ_j‖),

so the regulariser is called with the batch's ``labels`` (``wants_labels``). ``output-mode=full``
(the default) is Eq. 4's 1/(N(N−1)) E_s over all classifier neurons.

Constants, as the paper states them: the log energy is f_0(z) = log(1/z) (Eq. 1; the official
code uses −log z², twice ours, a factor the weight λ absorbs — we keep the paper's so that s → 0
is the limit it derives in §3.1); the angular variant (A-MHE, Eq. 5) uses the angle
arccos(ŵ_i·ŵ_j) in radians, θ ∈ [0, π], in place of the chord (not divided by π).

Defaults follow the paper's Appendix A: λ_h = 10 for full-space and 1 for half-space MHE in
hidden layers, λ_o = 1, s = 2, Euclidean distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from protogen.energies import _distance, _kernel, riesz_energy  # the one kernel
from protogen.errors import InputError


@dataclass
class MHESpec:
    s: float = 2.0
    hidden: float | None = None        # None: 10 (full space) or 1 (half space), the paper's
    output: float = 1.0
    half_space: bool = False
    angular: bool = False
    batch: int | None = None           # neuron subset size for wide layers
    seed: int = 0
    output_mode: str = "full"          # full (Eq. 4) | data (§3.6, needs the batch labels)

    @property
    def hidden_weight(self) -> float:
        if self.hidden is not None:
            return self.hidden
        return 1.0 if self.half_space else 10.0


_FLAGS = {"half-space": "half_space", "halfspace": "half_space", "angular": "angular"}
_NUMBERS = {"s": float, "hidden": float, "output": float, "batch": int, "seed": int}
OUTPUT_MODES = ("full", "data")


def parse_mhe_spec(spec) -> MHESpec:
    """Parse ``"s=2,hidden=1,output=10,half-space"`` (also ``angular``, ``batch=N``, ``seed=N``,
    ``output-mode=data``).

    A dict or an :class:`MHESpec` passes through. Bad input raises one-line ``InputError``."""
    if isinstance(spec, MHESpec):
        return spec
    if isinstance(spec, dict):
        items = spec.items()
    else:
        items = []
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            key, eq, value = part.partition("=")
            items.append((key.strip(), value.strip() if eq else None))
    out = MHESpec()
    for key, value in items:
        key = str(key).strip().lower()
        if key in _FLAGS and value in (None, True, "true", "1", "yes"):
            setattr(out, _FLAGS[key], True)
        elif key.replace("_", "-") in _FLAGS and value in (None, True, "true", "1", "yes"):
            setattr(out, _FLAGS[key.replace("_", "-")], True)
        elif key.replace("_", "-") == "output-mode" and value is not None:
            if value not in OUTPUT_MODES:
                raise InputError(f"MHE spec: output-mode must be full or data, got {value!r}")
            out.output_mode = value
        elif key in _NUMBERS and value is not None:
            try:
                setattr(out, key, _NUMBERS[key](value))
            except (TypeError, ValueError):
                raise InputError(f"MHE spec: {key} expects a number, got {value!r}") from None
        else:
            raise InputError(f"MHE spec: cannot read {key!r}"
                             + (f"={value}" if value is not None else "")
                             + " (expected s=, hidden=, output=, output-mode=full|data, batch=, "
                               "seed=, half-space, angular)")
    if out.s < 0:
        raise InputError(f"MHE spec: s must be >= 0, got {out.s}")
    if out.hidden_weight < 0 or out.output < 0:
        raise InputError("MHE spec: the weights hidden= and output= must be >= 0")
    if out.batch is not None and out.batch < 2:
        raise InputError(f"MHE spec: batch must be >= 2 neurons, got {out.batch}")
    return out


def layer_energy(weight: torch.Tensor, s: float = 2.0, *, half_space: bool = False,
                 angular: bool = False) -> torch.Tensor:
    """Mean pairwise s-energy of a layer's neurons (rows of the flattened weight)."""
    return riesz_energy(weight.flatten(1), s, half_space=half_space, angular=angular,
                        reduction="mean")


def data_dependent_energy(weight: torch.Tensor, labels: torch.Tensor, s: float = 2.0, *,
                          angular: bool = False) -> torch.Tensor:
    """1/(m(N − 1)) Σ_i Σ_{j ≠ y_i} f_s(d(ŵ_{y_i}, ŵ_j)) over a mini-batch's labels (§3.6)."""
    u = torch.nn.functional.normalize(weight.flatten(1), dim=1)
    n = u.shape[0]
    labels = torch.as_tensor(labels, device=u.device).long().view(-1)
    cos = u.index_select(0, labels) @ u.t()                       # (m, N)
    other = torch.ones_like(cos, dtype=torch.bool).scatter(1, labels[:, None], False)
    cos = torch.where(other, cos, torch.zeros_like(cos))          # no inf/NaN at j = y_i
    energy = torch.where(other, _kernel(_distance(cos, angular), s), torch.zeros_like(cos))
    return energy.sum() / (len(labels) * (n - 1))


class MHERegularizer:
    """Callable ``(labels=None) -> Tensor``: the weighted MHE term of Eq. (4) over the given
    layers; ``output`` is a weight tensor or a module whose ``weight`` is read at each call."""

    def __init__(self, hidden: list[torch.Tensor], output, spec):
        self.spec = parse_mhe_spec(spec)
        self.hidden = [w for w in hidden if w.flatten(1).shape[0] >= 2]
        self._output = output
        rows = self._out_weight().shape[0] if output is not None else 0
        self._output = output if rows >= 2 else None
        self.generator = torch.Generator().manual_seed(int(self.spec.seed))
        self.wants_labels = self.spec.output_mode == "data" and self._output is not None

    def _out_weight(self):
        out = self._output
        return out.weight if isinstance(out, torch.nn.Module) else out

    @property
    def output(self):
        return None if self._output is None else self._out_weight()

    def _rows(self, weight: torch.Tensor) -> torch.Tensor:
        w = weight.flatten(1)
        b = self.spec.batch
        if b is None or w.shape[0] <= b:
            return w
        idx = torch.randperm(w.shape[0], generator=self.generator)[:b].to(w.device)
        return w.index_select(0, idx)

    def hidden_term(self) -> torch.Tensor | None:
        terms = [layer_energy(self._rows(w), self.spec.s, half_space=self.spec.half_space,
                              angular=self.spec.angular) for w in self.hidden]
        return torch.stack(terms).sum() if terms else None

    def output_term(self, labels=None) -> torch.Tensor | None:
        w = self.output
        if w is None:
            return None
        if self.spec.output_mode == "data":
            if labels is None:
                raise InputError("MHE output-mode=data needs the mini-batch's class labels")
            return data_dependent_energy(w, labels, self.spec.s, angular=self.spec.angular)
        return layer_energy(self._rows(w), self.spec.s, angular=self.spec.angular)

    def __call__(self, labels=None) -> torch.Tensor:
        total = None
        h = self.hidden_term() if self.spec.hidden_weight > 0 else None
        if h is not None:
            total = self.spec.hidden_weight * h
        o = self.output_term(labels) if self.spec.output > 0 else None
        if o is not None:
            total = self.spec.output * o if total is None else total + self.spec.output * o
        if total is None:
            ref = self.output if self.output is not None else (self.hidden or [None])[0]
            return torch.zeros(()) if ref is None else ref.new_zeros(())
        return total

"""Minimum hyperspherical energy (seed 002) as a network regulariser.

Eq. (4): λ_h · Σ_{hidden layers j} 1/(N_j(N_j − 1)) {E_s}_j + λ_o · 1/(N_L(N_L − 1)) E_s(ŵ^out),
i.e. the *mean* pairwise energy of each layer's normalised neurons. The energy itself is
:func:`protogen.energies.riesz_energy` (the solvers' definition, ``reduction="mean"``): s = 0
(logarithmic), 1, 2, …; ``half_space`` (§3.4, the neurons and their antipodes; hidden layers
only, the paper notes it cannot apply to classifier neurons); ``angular`` (A-MHE, §3.5, Eq. 5).

Mini-batch approximation (§3.6): a layer with more than ``batch`` neurons contributes the energy
of a random subset of ``batch`` of them, drawn afresh at every call from a generator seeded by
``seed`` (an unbiased estimate of the mean energy). The paper's data-dependent variant for the
output layer needs the mini-batch labels, which a regulariser called without arguments does not
see; wide output layers use the same random subsets instead.

Defaults follow the paper's Appendix A: λ_h = 10 for full-space and 1 for half-space MHE in
hidden layers, λ_o = 1, s = 2, Euclidean distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from protogen.energies import riesz_energy
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

    @property
    def hidden_weight(self) -> float:
        if self.hidden is not None:
            return self.hidden
        return 1.0 if self.half_space else 10.0


_FLAGS = {"half-space": "half_space", "halfspace": "half_space", "angular": "angular"}
_NUMBERS = {"s": float, "hidden": float, "output": float, "batch": int, "seed": int}


def parse_mhe_spec(spec) -> MHESpec:
    """Parse ``"s=2,hidden=1,output=10,half-space"`` (also ``angular``, ``batch=N``, ``seed=N``).

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
        elif key in _NUMBERS and value is not None:
            try:
                setattr(out, key, _NUMBERS[key](value))
            except (TypeError, ValueError):
                raise InputError(f"MHE spec: {key} expects a number, got {value!r}") from None
        else:
            raise InputError(f"MHE spec: cannot read {key!r}"
                             + (f"={value}" if value is not None else "")
                             + " (expected s=, hidden=, output=, batch=, seed=, half-space, "
                               "angular)")
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


class MHERegularizer:
    """Callable ``() -> Tensor``: the weighted MHE term of Eq. (4) over the given layers."""

    def __init__(self, hidden: list[torch.Tensor], output: torch.Tensor | None, spec):
        self.spec = parse_mhe_spec(spec)
        self.hidden = [w for w in hidden if w.flatten(1).shape[0] >= 2]
        self.output = output if output is not None and output.shape[0] >= 2 else None
        self.generator = torch.Generator().manual_seed(int(self.spec.seed))

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

    def output_term(self) -> torch.Tensor | None:
        if self.output is None:
            return None
        return layer_energy(self._rows(self.output), self.spec.s, angular=self.spec.angular)

    def __call__(self) -> torch.Tensor:
        total = None
        h = self.hidden_term() if self.spec.hidden_weight > 0 else None
        if h is not None:
            total = self.spec.hidden_weight * h
        o = self.output_term() if self.spec.output > 0 else None
        if o is not None:
            total = self.spec.output * o if total is None else total + self.spec.output * o
        if total is None:
            ref = self.output if self.output is not None else (self.hidden or [None])[0]
            return torch.zeros(()) if ref is None else ref.new_zeros(())
        return total

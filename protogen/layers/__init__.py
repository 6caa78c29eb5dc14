"""Hyperspherical layers and regularisers from seeds 001 (SphereNet), 002 (MHE) and 003 (DH2L).

- :mod:`~protogen.layers.sphereconv`: SphereConv2d / SphereLinear (operators linear, cosine,
  sigmoid, learnable sigmoid; SphereNorm rescaling), the W-Softmax and GA-Softmax heads, the
  orthogonality regulariser and the ``sphere-cnn`` model;
- :mod:`~protogen.layers.mhe`: the MHE regulariser (on :func:`protogen.energies.riesz_energy`);
- :mod:`~protogen.layers.hierarchy`: hierarchy files and the hierarchical regulariser
  (hierarchy-aware prototypes are the objective term :mod:`protogen.terms.hierarchy`).

The trainer names the model ``sphere-cnn`` and the heads ``w-softmax`` and ``ga-softmax`` in
:mod:`protogen.train.registry` and calls :func:`build_regularizers`; this package never imports
the trainer.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from protogen.errors import InputError
from protogen.layers.hierarchy import (HierarchicalLinear,  # noqa: F401
                                       HierarchicalSoftmaxHead, HierarchyRegularizer,
                                       MetricEnergyRegularizer, load_hierarchy)
from protogen.layers.mhe import MHERegularizer, parse_mhe_spec  # noqa: F401
from protogen.layers.sphereconv import (OPERATORS, SphereCNN, SphereConv2d,  # noqa: F401
                                        SphereLinear, WSoftmaxHead, orthogonality)

_NEURON_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, SphereConv2d, SphereLinear)


def _output_weight(model: nn.Module, head) -> tuple[torch.Tensor | None, nn.Module | None]:
    """The classifier neurons: the head's own weights, or the model's last layer when the
    head is a plain softmax on the network's outputs. ``None`` for fixed prototypes."""
    if head is None:
        return None, None
    if isinstance(getattr(head, "linear", None), HierarchicalLinear):
        # W = centres[g] + subs is recomputed at every call: hand over the module.
        return head.linear, None
    w = getattr(head, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() == 2:
        return w, None
    lin = getattr(head, "linear", None)
    if isinstance(lin, nn.Linear):
        return lin.weight, None
    if type(head).__name__ == "SoftmaxHead":
        last = [m for m in model.modules() if isinstance(m, (nn.Linear, SphereLinear))]
        if last:
            return last[-1].weight, last[-1]
    return None, None


def hidden_layers(model: nn.Module, exclude: nn.Module | None = None) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _NEURON_LAYERS) and m is not exclude]


def call_regularizer(reg, labels=None) -> torch.Tensor:
    """The regulariser call protocol: ``reg(labels=...)`` for a regulariser that declares
    ``wants_labels`` (MHE's data-dependent output term, the mini-batch hierarchy), else
    ``reg()``."""
    if labels is not None and getattr(reg, "wants_labels", False):
        return reg(labels=labels)
    return reg()


def build_regularizers(model: nn.Module, *, mhe=None, orth: float = 0.0, hierarchy=None,
                       hier_metric: str = "gm", class_names=None, head=None,
                       hier_weight: float = 0.1, hier_constraint: float = 0.1,
                       hier_scope: str = "batch", hier_energy: float = 0.0,
                       energy_metric: str | None = None, labels_available: bool = True,
                       ) -> list[Callable[..., torch.Tensor]]:
    """Regularisers for ``model`` (+ ``head``), each a callable added to the loss at every
    step through :func:`call_regularizer` (those with ``wants_labels`` get the batch labels).

    ``mhe``: an MHE spec (``"s=2,hidden=1,output=10,half-space"``, ``output-mode=data``);
    ``orth``: weight of the orthogonality term ‖ŴŴᵀ − I‖²_F summed over hidden layers
    (directions for SphereConv layers, raw weights for plain ones); ``hierarchy``: a hierarchy
    name or file for the output layer (seed 003), with ``hier_metric`` (see
    :func:`protogen.distances.parse_metric`), weight ``hier_weight`` and ``hier_scope``
    (``batch``: the classes of each mini-batch, the paper's; ``full``), needs ``class_names``;
    ``hier_energy``: λ_e of DH2L's energy term 'E' with ``energy_metric`` (default
    ``hier_metric``) on the hidden layers, and on the classifier too when no hierarchy is given
    (the paper's Table 1 applies it to every layer but BatchNorm). ``labels_available=False``
    (regression) refuses the terms that need class labels.
    """
    regs: list[Callable[..., torch.Tensor]] = []
    out_w, out_layer = _output_weight(model, head)
    hidden = hidden_layers(model, exclude=out_layer)
    if mhe:
        spec = parse_mhe_spec(mhe)
        if spec.output_mode == "data" and not labels_available:
            raise InputError("--mhe output-mode=data needs class labels (a classification "
                             "task); use output-mode=full")
        regs.append(MHERegularizer([m.weight for m in hidden], out_w, spec))
    if orth:
        orth = float(orth)
        if orth < 0:
            raise InputError(f"the orthogonality weight must be >= 0, got {orth}")
        layers = [(m.weight, isinstance(m, (SphereConv2d, SphereLinear))) for m in hidden]

        def orth_term(layers=layers, orth=orth):
            return orth * sum(orthogonality(w, normalize=n) for w, n in layers)

        if layers:
            regs.append(orth_term)
    if hier_energy:
        weights = [m.weight for m in hidden]
        if not hierarchy and isinstance(out_w, torch.Tensor):
            weights.append(out_w)
        regs.append(MetricEnergyRegularizer(weights, energy_metric or hier_metric,
                                            float(hier_energy)))
    if hierarchy:
        if not labels_available or class_names is None:
            raise InputError("--hierarchy needs class names, and this data set has none")
        if out_w is None:
            raise InputError("--hierarchy regularises the classifier's weights; the fixed "
                             "prototype head has none (use --loss softmax, w-softmax, "
                             "ga-softmax or hier-softmax)")
        h = load_hierarchy(hierarchy)
        ids, _ = h.group_ids(class_names)
        regs.append(HierarchyRegularizer(out_w, ids, metric=hier_metric, weight=hier_weight,
                                         constraint_weight=hier_constraint, scope=hier_scope))
    return regs

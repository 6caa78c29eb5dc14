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
from protogen.layers.hierarchy import (HierarchicalLinear, HierarchyRegularizer,  # noqa: F401
                                       load_hierarchy)
from protogen.layers.mhe import MHERegularizer, parse_mhe_spec  # noqa: F401
from protogen.layers.sphereconv import (OPERATORS, SphereCNN, SphereConv2d,  # noqa: F401
                                        SphereLinear, WSoftmaxHead, orthogonality)

_NEURON_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, SphereConv2d, SphereLinear)


def _output_weight(model: nn.Module, head) -> tuple[torch.Tensor | None, nn.Module | None]:
    """The classifier neurons: the head's own weights, or the model's last layer when the
    head is a plain softmax on the network's outputs. ``None`` for fixed prototypes."""
    if head is None:
        return None, None
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


def build_regularizers(model: nn.Module, *, mhe=None, orth: float = 0.0, hierarchy=None,
                       hier_metric: str = "gm", class_names=None, head=None,
                       hier_weight: float = 0.1, hier_constraint: float = 0.1,
                       ) -> list[Callable[[], torch.Tensor]]:
    """Regularisers for ``model`` (+ ``head``), each a callable ``() -> scalar Tensor`` to add
    to the loss at every step.

    ``mhe``: an MHE spec (``"s=2,hidden=1,output=10,half-space"``); ``orth``: weight of the
    orthogonality term ‖ŴŴᵀ − I‖²_F summed over hidden layers (directions for SphereConv
    layers, raw weights for plain ones); ``hierarchy``: a hierarchy name or file for the output
    layer, with ``hier_metric`` in am/gm/hm/discrete/continuous, needs ``class_names``.
    """
    regs: list[Callable[[], torch.Tensor]] = []
    out_w, out_layer = _output_weight(model, head)
    hidden = hidden_layers(model, exclude=out_layer)
    if mhe:
        spec = parse_mhe_spec(mhe)
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
    if hierarchy:
        if class_names is None:
            raise InputError("--hierarchy needs class names, and this data set has none")
        if out_w is None:
            raise InputError("--hierarchy regularises the classifier's weights; the fixed "
                             "prototype head has none (use --loss softmax, w-softmax or "
                             "ga-softmax)")
        h = load_hierarchy(hierarchy)
        ids, _ = h.group_ids(class_names)
        regs.append(HierarchyRegularizer(out_w, ids, metric=hier_metric, weight=hier_weight,
                                         constraint_weight=hier_constraint))
    return regs

"""The trainer's names for networks and heads: ``--model NAME`` and ``--loss NAME``.

- A model builder is ``builder(input_shape, out_dim, **options) -> nn.Module`` with
  ``input_shape`` = (channels, height, width) and ``out_dim`` = the prototype dimension D.
- A classification head builder is ``builder(in_dim, num_classes, *, prototypes=None,
  **options)`` returning a module with ``loss(outputs, labels)``, ``predict(outputs)`` and
  ``task = "classification"`` (see :mod:`protogen.train.heads`).

The registries live here, in ``train/``: the trainer's own networks and heads and those of
:mod:`protogen.layers` (SphereNet's ``sphere-cnn``, W-/GA-Softmax) are entered below, importing
the layers' modules explicitly, so ``layers`` never imports the trainer. Other code adds
entries with :func:`register_model` / :func:`register_head`.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch.nn as nn

from protogen.errors import InputError
from protogen.layers.hierarchy import HierarchicalSoftmaxHead, load_hierarchy
from protogen.layers.sphereconv import SphereCNN, WSoftmaxHead, cnn9, sphere_cnn9
from protogen.train import heads as H
from protogen.train import models as M

ModelBuilder = Callable[..., nn.Module]
HeadBuilder = Callable[..., nn.Module]
MODELS: dict[str, ModelBuilder] = {}
HEADS: dict[str, HeadBuilder] = {}


def register_model(name: str, builder: ModelBuilder) -> None:
    """Add a network: ``builder(input_shape, out_dim, **options) -> nn.Module``."""
    MODELS[name] = builder


def register_head(name: str, builder: HeadBuilder) -> None:
    """Add a classification head: ``builder(in_dim, num_classes, *, prototypes=None, **options)``."""
    HEADS[name] = builder


def build_model(name: str, input_shape, out_dim: int, **options) -> nn.Module:
    """The network ``name``; options it does not take are refused before it is built (checked
    against the builder's signature, so a TypeError inside a builder stays a bug, not a user
    error)."""
    if ":" in name:
        # --model module:callable, a user's own backbone (it checks its output size).
        from protogen.train.user_model import load_user_model

        if options:
            raise InputError(f"--model {name!r} takes no model options")
        return load_user_model(name, input_shape, out_dim)
    builder = MODELS.get(name)
    if builder is None:
        raise InputError(f"unknown model {name!r} (choose from {', '.join(sorted(MODELS))}, "
                         "or module:callable)")
    params = list(inspect.signature(builder).parameters.values())[2:]
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        known = {p.name for p in params}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"model {name!r} does not take {', '.join(unknown)} (it takes "
                             f"{', '.join(p.name for p in params) or 'no options'})")
    return builder(tuple(input_shape), int(out_dim), **options)


def build_head(name: str, in_dim: int, num_classes: int, *, prototypes=None,
               **options) -> nn.Module:
    builder = HEADS.get(name)
    if builder is None:
        raise InputError(f"unknown loss {name!r} (choose from {', '.join(sorted(HEADS))})")
    return builder(in_dim, num_classes, prototypes=prototypes, **options)


# ------------------------------------------------------------------ the trainer's own
def _prototype_head(in_dim, num_classes, *, prototypes=None, reduction="mean", **_):
    if prototypes is None:
        raise InputError("the prototype loss needs prototypes (--prototypes FILE|onehot|"
                         "word-vectors)")
    return H.PrototypeHead(prototypes, reduction=reduction)


register_model("mlp", M.MLP)
register_model("cnn", M.SmallCNN)
register_model("resnet32", M.resnet32)
register_head("prototype", _prototype_head)
register_head("softmax", lambda in_dim, num_classes, **_: H.SoftmaxHead(in_dim, num_classes))
register_head("ncm", lambda in_dim, num_classes, *, mean="decay", **_:
              H.NCMHead(in_dim, num_classes, mean=mean))


# ------------------------------------------------ protogen.layers (seed 001, SphereNet)
def _w_softmax(in_dim, num_classes, *, prototypes=None, margin=None, **options):
    if margin not in (None, 1, 1.0):
        raise InputError("w-softmax has no margin (use --loss ga-softmax --margin M)")
    return WSoftmaxHead(in_dim, num_classes, margin=1.0, **options)


def _ga_softmax(in_dim, num_classes, *, prototypes=None, margin=None, **options):
    return WSoftmaxHead(in_dim, num_classes, margin=4.0 if margin is None else margin, **options)


register_model("sphere-cnn", SphereCNN)
register_head("w-softmax", _w_softmax)
register_head("ga-softmax", _ga_softmax)


register_model("cnn9", cnn9)
register_model("sphere-cnn9", sphere_cnn9)
# Seed 002's CNN-9 (Appendix A, Table 11) has 64/128/256 filters instead of 001's 64/96/128.
register_model("mhe-cnn9", lambda input_shape, out_dim, sphere_op="none", k=0.5,
               batchnorm=True, rescale=False: cnn9(input_shape, out_dim, sphere_op, k,
                                                   (64, 128, 256), batchnorm, rescale))


# ------------------------------------------ protogen.layers (seed 003, DH2L classifier)
def _hier_softmax(in_dim, num_classes, *, prototypes=None, hierarchy=None, class_names=None,
                  **_):
    """A HierarchicalLinear classifier (learnable super-class centres, no bias)."""
    if not hierarchy:
        raise InputError("--loss hier-softmax needs --hierarchy NAME|FILE|dataset")
    if not class_names:
        raise InputError("--loss hier-softmax needs a data set with class names")
    ids, _ = load_hierarchy(hierarchy).group_ids(class_names)
    return HierarchicalSoftmaxHead(in_dim, ids)


register_head("hier-softmax", _hier_softmax)

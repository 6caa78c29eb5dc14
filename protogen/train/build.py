"""Everything a run builds before its first step, with every check done before anything is
written: the data set, the prototypes (file, one-hot or word vectors), the head, the network,
the regularisers of :mod:`protogen.layers` and the optimiser with its schedule.

:func:`prepare` returns a :class:`Prepared` run; with the :class:`RunInfo` of a saved run it
rebuilds the same network from placeholders that the checkpoint then fills (evaluate, resume).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from protogen import layers
from protogen.errors import InputError
from protogen.io import load_prototypes
from protogen.train import heads as H
from protogen.train import registry
from protogen.train.config import RunInfo, TrainConfig, check_config
from protogen.train.data import DataSet, load_dataset


class Network(nn.Module):
    """The network and its head as one module (what DDP wraps and the checkpoint stores)."""

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        return self.head(self.model(x))


@dataclass
class Prepared:
    config: TrainConfig
    data: DataSet
    net: Network
    info: RunInfo
    cache: dict = field(default_factory=dict)   # device-resident copies of the splits


@dataclass
class Optimisation:
    """What the checkpoint saves besides the network: optimiser, learning-rate schedule and
    the float16 gradient scaler (a no-op without --amp)."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    per_step: bool = False              # the schedule steps every batch (else every epoch)


# ----------------------------------------------------------------------------- prototypes
def _word_vector_prototypes(spec: str, data: DataSet, dim: int | None, seed: int):
    from protogen import semantics  # gensim-backed; only word-vector runs pay for it

    if not data.class_names:
        raise InputError(f"word-vector prototypes need class names; data set {data.name!r} "
                         "has none")
    source = spec.partition(":")[2] or semantics.BUILTIN_GLOVE
    kv, _ = semantics.load_word_vectors(source)
    vectors = semantics.class_vectors(data.class_names, kv, oov="error", seed=seed)
    dim = dim or min(len(data.class_names), vectors.shape[1])
    return semantics.pca_init(vectors, dim, seed=seed), {"source": f"word-vectors:{source}"}


def resolve_prototypes(c: TrainConfig, data: DataSet):
    """The (K, D) prototypes of the run, or None, and a description for config.json."""
    spec = c.prototypes
    if not spec:
        return None, {}
    k = data.num_classes
    if spec == "onehot":
        if k is None:
            raise InputError("one-hot prototypes need class labels")
        if c.dim is not None and c.dim != k:
            raise InputError(f"one-hot prototypes have dimension K = {k}, not --dim {c.dim}")
        return np.eye(k), {"source": "onehot"}
    if spec == "word-vectors" or spec.startswith("word-vectors:"):
        return _word_vector_prototypes(spec, data, c.dim, c.seed)
    pset = load_prototypes(spec)
    info = {"source": str(Path(spec).resolve()), "method": pset.attrs.get("method"),
            "seed": pset.attrs.get("seed"), "min_angle_deg": pset.attrs.get("min_angle_deg")}
    if c.dim is not None and c.task != "joint" and c.dim != pset.dim:
        raise InputError(f"--dim {c.dim} but the prototype file {spec} has dimension {pset.dim}")
    protos = pset.prototypes
    if c.task in ("classification", "joint") and data.class_names and pset.class_names:
        protos = match_by_name(protos, list(pset.class_names), list(data.class_names), spec,
                               data.name)
        info["matched_by_name"] = True
    elif c.task in ("classification", "joint") and k is not None and data.class_names \
            and len(data.class_names) != pset.num_classes:
        raise InputError(f"the prototype file has {pset.num_classes} prototypes but data set "
                         f"{data.name!r} has {len(data.class_names)} classes")
    return protos, info


def match_by_name(protos: np.ndarray, file_names: list[str], data_names: list[str], spec: str,
                  dataset: str) -> np.ndarray:
    """The prototype rows in the data set's class order, matched by class name (so a file
    solved for the classes in another order still fits). A data-set class the file lacks is
    a one-line error; extra prototypes in the file are refused too (they would change K)."""
    if len(set(file_names)) != len(file_names):
        raise InputError(f"the prototype file {spec} repeats a class name")
    row = {name: i for i, name in enumerate(file_names)}
    missing = [name for name in data_names if name not in row]
    if missing:
        raise InputError(f"the prototype file {spec} has no prototype for class "
                         f"{missing[0]!r} of data set {dataset!r}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if len(file_names) != len(data_names):
        raise InputError(f"the prototype file has {len(file_names)} prototypes but data set "
                         f"{dataset!r} has {len(data_names)} classes")
    return protos[[row[name] for name in data_names]]


def _placeholder(shape) -> np.ndarray:
    """Unit rows of the saved prototype shape (two opposite ones for K = 2, as regression
    requires); the checkpoint's buffers replace them."""
    k, dim = shape
    p = np.zeros((k, dim))
    p[:, 0] = 1.0
    if k == 2:
        p[1, 0] = -1.0
    return p


# ------------------------------------------------------------------------------- checks
def _check_labels(data: DataSet, num_classes: int) -> None:
    for split, what in ((data.train, "training"), (data.test, "test")):
        if split.labels is not None and len(split.labels):
            top = int(split.labels.max())
            if top >= num_classes:
                raise InputError(f"{what} label {top} is out of range: there are only "
                                 f"{num_classes} prototypes/classes (labels must be 0..{num_classes - 1})")


def _needs(data: DataSet, task: str) -> None:
    if task in ("classification", "joint") and data.train.labels is None:
        raise InputError(f"data set {data.name!r} has no class labels (task {task})")
    if task in ("regression", "joint") and data.train.values is None:
        raise InputError(f"data set {data.name!r} has no regression values (task {task}); "
                         "try rotated-mnist or rotated-digits")


def _check_saved_run(c: TrainConfig, data: DataSet, saved: RunInfo) -> None:
    """The data of an evaluate/resume must fit the network the run trained."""
    if tuple(data.input_shape) != tuple(saved.input_shape):
        raise InputError(f"data set {data.name!r} has inputs of shape {data.input_shape}, "
                         f"the run was trained on {tuple(saved.input_shape)}")
    if saved.num_classes is not None and c.task != "regression":
        _check_labels(data, saved.num_classes)
        names = saved.class_names
        if data.class_names and names and list(data.class_names) != list(names):
            raise InputError(f"data set {data.name!r} has classes {data.class_names[:3]}..., "
                             f"the run was trained on {names[:3]}...")


# --------------------------------------------------------------------------------- head
def hierarchy_spec(c: TrainConfig, dataset: str, dataset_info: dict | None):
    """The run's --hierarchy, with ``dataset`` resolved to the data set's own super-classes."""
    spec = c.regularizers.get("hierarchy")
    if spec == "dataset":
        spec = (dataset_info or {}).get("hierarchy")
        if not spec:
            raise InputError(f"--hierarchy dataset: data set {dataset!r} carries no class "
                             "hierarchy (CIFAR-100 does)")
    return spec


def build_head(c: TrainConfig, protos, k: int | None, bounds, *, class_names=None,
               hierarchy=None) -> tuple[nn.Module, int]:
    """The head and the network output dimension it expects (``class_names`` and the resolved
    ``hierarchy`` for --loss hier-softmax)."""
    if c.task == "classification":
        if c.loss == "prototype":
            if protos is None:
                raise InputError("--loss prototype needs --prototypes FILE (or onehot, "
                                 "word-vectors)")
            dim = protos.shape[1]
        else:
            dim = protos.shape[1] if protos is not None else (c.dim or k)
        options = dict(c.head_options)
        if c.loss == "prototype":
            options["reduction"] = c.reduction or "mean"
        if c.loss == "hier-softmax":
            options.update(hierarchy=hierarchy, class_names=class_names)
        return registry.build_head(c.loss, dim, k, prototypes=protos, **options), dim
    lo, hi = bounds
    if c.task == "regression":
        if c.loss == "squared":
            dim = (c.dim or 2) if c.hidden else 1
            return H.SquaredRegressionHead(dim, lo, hi, hidden=c.hidden,
                                           reduction=c.reduction or "mean"), dim
        if protos is not None:
            if protos.shape[0] != 2 or np.dot(protos[0], protos[1]) > -1 + 1e-6:
                raise InputError("regression prototypes must be two opposite points (K = 2, "
                                 "p_l = -p_u); or leave out --prototypes")
            upper = protos[0]
        else:
            upper = np.eye(c.dim or 2)[0]
        return H.RegressionHead(upper, lo, hi, reduction=c.reduction or "mean"), upper.shape[0]
    if c.loss == "multitask":
        if protos is not None:
            raise InputError("--loss multitask learns its own classifier: drop --prototypes")
        return H.MultiTaskHead(k, lo, hi, c.joint_weights, reduction=c.reduction or "mean"), k + 1
    if protos is None:
        raise InputError("the joint task needs --prototypes FILE with the class prototypes in "
                         "D-1 dimensions (the regression axis is added as the last)")
    classes, upper = H.joint_prototypes(protos)
    if c.dim is not None and c.dim != classes.shape[1]:
        raise InputError(f"--dim {c.dim} but the joint output space of a {protos.shape[1]}-d "
                         f"prototype file has {classes.shape[1]} dimensions")
    return (H.JointHead(classes, upper, lo, hi, c.joint_weights, reduction=c.reduction or "mean"),
            classes.shape[1])


def build_model(c: TrainConfig, input_shape, out_dim: int) -> nn.Module:
    """The registered network, checked to output ``out_dim`` values per example."""
    model = registry.build_model(c.model, input_shape, out_dim, **c.model_options)
    with torch.no_grad():
        model.eval()
        got = model(torch.zeros(2, *input_shape)).shape
        model.train()
    if len(got) != 2 or got[1] != out_dim:
        raise InputError(f"model {c.model!r} outputs {tuple(got[1:])} values per example but "
                         f"the head needs {out_dim} (the prototype dimension)")
    return model


# ------------------------------------------------------------------------------ prepare
def input_statistics(x: np.ndarray):
    """How inputs are standardised: images (C, H, W) by one mean and std over all pixels;
    tabular rows (1, 1, F) feature by feature (lists), since features come in unrelated units
    (measured: with one scale for all, wine reaches 0.63 whatever the optimiser; standardised
    per feature, 1.00; benchmarks/RESULTS.md, train defaults). A constant feature gets std 1."""
    if x.shape[1:3] == (1, 1) and x.shape[3] > 1:
        std = x.std(axis=0).reshape(-1)
        return x.mean(axis=0).reshape(-1).tolist(), np.where(std > 0, std, 1.0).tolist()
    return float(x.mean()), float(x.std()) or 1.0



def _resolve(c: TrainConfig, data: DataSet):
    """Prototypes, class count and regression bounds of a new run, from its data."""
    protos, proto_info = resolve_prototypes(c, data)
    k = None
    if c.task in ("classification", "joint"):
        k = protos.shape[0] if protos is not None else data.num_classes
        _check_labels(data, k)
    bounds = (None, None)
    if c.task in ("regression", "joint"):
        v = data.train.values
        bounds = (float(v.min()), float(v.max()))
        if not bounds[1] > bounds[0]:
            raise InputError(f"all training regression values are {bounds[0]}: no range "
                             "to regress on")
    return protos, proto_info, k, bounds


def prepare(c: TrainConfig, *, data: DataSet | None = None,
            saved: RunInfo | None = None) -> Prepared:
    """Load the data and prototypes, build head and model and check they fit together. With
    ``saved`` (a run's :class:`RunInfo`) the head is rebuilt with placeholders of the saved
    shapes, to be filled from the checkpoint (the prototype file is not read again)."""
    check_config(c)
    if data is None:
        data = load_dataset(c.dataset, seed=c.seed, limit_train=c.limit_train,
                            limit_test=c.limit_test)
    _needs(data, c.task)
    if saved is None:
        protos, proto_info, k, bounds = _resolve(c, data)
    else:
        _check_saved_run(c, data, saved)
        shape = saved.prototype_shape
        protos = None if shape is None else _placeholder(shape)
        proto_info, k, bounds = saved.prototypes, saved.num_classes, tuple(saved.bounds)
        if c.task in ("regression", "joint"):
            bounds = (0.0, 1.0)   # placeholders too: the checkpoint holds the bounds buffer
    names = data.class_names if saved is None else saved.class_names
    d_info = data.info if saved is None else saved.dataset_info
    hier = hierarchy_spec(c, data.name, d_info) if c.loss == "hier-softmax" else None
    head, out_dim = build_head(c, protos, k, bounds, class_names=names, hierarchy=hier)
    model = build_model(c, data.input_shape, out_dim)
    if saved is None:
        mean, std = input_statistics(data.train.x)
        info = RunInfo(num_classes=k, bounds=bounds, prototypes=proto_info,
                       prototype_shape=None if protos is None else tuple(protos.shape),
                       input_shape=tuple(data.input_shape), input_mean=mean,
                       input_std=std, class_names=data.class_names,
                       train_size=len(data.train), test_size=len(data.test),
                       dataset_info=data.info, out_dim=out_dim)
    else:
        info = saved
    return Prepared(c, data, Network(model, head), info)


# -------------------------------------------------------------- regularisers, optimiser
def build_regularizers(prep: Prepared) -> list[Callable[..., torch.Tensor]]:
    """The layers' regularisers (MHE, orthogonality, hierarchy, DH2L's energy) for this
    network; the loop adds each to the loss at every step through
    :func:`protogen.layers.call_regularizer` (with the batch labels for those that want them)."""
    spec = {k: v for k, v in prep.config.regularizers.items() if v not in (None, 0, 0.0, "")}
    if not spec:
        return []
    options = dict(prep.config.regularizers)
    if options.get("hierarchy"):
        # "dataset": the data set's own super-classes (CIFAR-100's coarse labels).
        options["hierarchy"] = hierarchy_spec(prep.config, prep.data.name,
                                              prep.info.dataset_info)
    return list(layers.build_regularizers(prep.net.model, class_names=prep.info.class_names,
                                          head=prep.net.head,
                                          labels_available=prep.config.task != "regression",
                                          **options))


def build_optimisation(c: TrainConfig, net: nn.Module, steps_per_epoch: int = 1) -> Optimisation:
    """AdamW (the default), SGD with momentum (the paper) or Adam; the learning-rate schedule:
    ``step`` (x gamma at
    the milestone epochs, stepped once an epoch: the paper's) or ``cosine`` (stepped every
    batch: a linear warm-up over ``warmup`` epochs, then half a cosine down to zero); and the
    float16 gradient scaler."""
    params = parameter_groups(net, c.weight_decay, c.sphere_weight_decay)
    if c.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    elif c.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.schedule == "cosine":
        factor = cosine_factor(c.epochs * steps_per_epoch, round(c.warmup * steps_per_epoch))
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    else:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, c.milestones, gamma=c.gamma)
    # bf16 keeps float32's exponent range: only float16 needs loss scaling.
    scaling = c.amp and c.amp_dtype != "bf16" and not (
        c.amp_dtype == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return Optimisation(opt, scheduler, torch.amp.GradScaler("cuda", enabled=scaling),
                        per_step=c.schedule == "cosine")


def parameter_groups(net: nn.Module, weight_decay: float, sphere_weight_decay: bool = False):
    """The optimiser's parameter groups. SphereNet (seed 001 §2.4, "Network Regularization":
    "because the norm of weights is no longer crucial, we stop using the l2 weight decay")
    trains its angular weights without decay: the kernels of SphereConv2d/SphereLinear and the
    W-/GA-Softmax class weights (both used only through their directions) get weight decay 0
    unless ``sphere_weight_decay``; every other parameter gets ``weight_decay``."""
    params = [p for p in net.parameters() if p.requires_grad]
    if sphere_weight_decay or not weight_decay:
        return params
    angular = (layers.SphereConv2d, layers.SphereLinear, layers.WSoftmaxHead)
    no_decay = {id(m.weight) for m in net.modules() if isinstance(m, angular)}
    plain = [p for p in params if id(p) not in no_decay]
    spherical = [p for p in params if id(p) in no_decay]
    if not spherical:
        return params
    return [{"params": plain}, {"params": spherical, "weight_decay": 0.0}]


def cosine_factor(total_steps: int, warmup_steps: int):
    """Learning-rate factor of step s: (s + 1) / W during the warm-up, then
    0.5 (1 + cos(pi (s - W) / (T - W)))."""
    import math

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / span)))

    return factor

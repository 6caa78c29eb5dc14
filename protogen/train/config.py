"""What defines a run (:class:`TrainConfig`, checked by :func:`check_config`) and what the run
resolved from its data and prototypes (:class:`RunInfo`). Both are saved in the run's
config.json ("config" and "resolved") and are plain JSON values, so a run directory can be
rebuilt, evaluated and resumed without reading the prototype file again."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from protogen.errors import InputError

TASKS = ("classification", "regression", "joint")
OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("step", "cosine")
REDUCTIONS = ("sum", "mean")
NCM_MEANS = ("decay", "online", "condensation")
# Losses whose batch reduction --reduction sets (the prototype losses of seed 000 and the
# squared-loss baselines); cross-entropy heads keep torch's mean.
PROTOTYPE_LOSSES = ("prototype", "squared", "multitask")

DEFAULT_REDUCTION = "mean"

# Named recipes: the settings a paper trains with, one flag away (--recipe NAME). Only the
# settings the user did not give explicitly are taken from the recipe.
RECIPES = {
    # Seed 000 §3 and the official code (hpn_cifar.py): SGD lr 0.01, momentum 0.9, weight decay
    # 1e-4, batch 128, 250 epochs with the learning rate x0.1 after epochs 100 and 200 (40 % and
    # 80 %), loss summed over the batch, random crops and flips for 32x32 images.
    "hpn": dict(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=1e-4, batch_size=128,
                epochs=250, schedule="step", milestones=None, gamma=0.1, warmup=0.0,
                reduction="sum", augment="auto"),
    # Seed 003 (DH2L) Appendix: SGD, momentum 0.9, learning rates 0.1 -> 0.01 -> 0.001, weight
    # decay ("l2-norm minimization") 5e-4, hierarchical regularisation lambda_l = 0.1 on the FC
    # layer, energy term lambda_e = 0.1 on the other layers, no bias in the classifier (a
    # HierarchicalLinear: learnable super-class centres), mini-batch 512 and 300 epochs for the
    # light (resnet-20/110) models. The paper does not say when the rate drops: the trainer's
    # default 40 % and 80 % of the epochs.
    "dh2l": dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=512,
                 epochs=300, schedule="step", milestones=None, gamma=0.1, warmup=0.0,
                 loss="hier-softmax",
                 regularizers={"hier_weight": 0.1, "hier_energy": 0.1, "hier_scope": "batch"}),
}
# Settings a recipe needs the user to give (they depend on the data).
RECIPE_NEEDS = {"dh2l": {"hierarchy": "--recipe dh2l needs --hierarchy NAME|FILE|dataset "
                                      "(the class hierarchy of the data set)"}}


@dataclass
class TrainConfig:
    """Everything that defines a run; saved as config.json (with the resolved values)."""

    prototypes: str | None = None       # prototype file, "onehot" or "word-vectors[:SOURCE]"
    dataset: str = "digits"
    task: str = "classification"
    loss: str = "prototype"             # prototype | softmax | ncm | squared | registered heads
    dim: int | None = None              # output dimension where no prototype file fixes it
    hidden: bool = False                # squared-loss baseline: extra linear layer D -> 1
    joint_weights: tuple = (1.0, 1.0)   # (classification, regression)
    model: str = "mlp"
    model_options: dict = field(default_factory=dict)
    head_options: dict = field(default_factory=dict)   # e.g. margin of the layers' heads
    regularizers: dict = field(default_factory=dict)   # forwarded to protogen.layers
    epochs: int = 30
    batch_size: int = 128
    # Defaults chosen by measurement (benchmarks/RESULTS.md, "train defaults"): AdamW lr 1e-3,
    # weight decay 0.01, 5 % linear warm-up, cosine to zero, batch mean. The paper's SGD recipe
    # is --recipe hpn.
    optimizer: str = "adamw"
    lr: float | None = None             # default 0.01 (SGD, the paper) or 0.001 (Adam)
    momentum: float = 0.9
    weight_decay: float | None = None   # default 0.01 (AdamW) or 1e-4 (SGD, Adam; the paper)
    milestones: list | None = None      # default: 40 % and 80 % of the epochs (paper: 100, 200 of 250)
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    amp_dtype: str = "auto"             # auto (bf16 where the GPU has it, else fp16) | bf16 | fp16
    compile: bool = False               # torch.compile the network (CUDA: faster steps)
    workers: int | None = None          # DataLoader workers; default 0 on CPU, 4 on CUDA
    limit_train: int | None = None
    limit_test: int | None = None
    eval_batch_size: int = 1024
    threads: int | None = None          # torch intra-op CPU threads; default: torch's choice
    reduction: str | None = None        # prototype losses over the batch: sum (paper) | mean
    augment: str = "auto"               # crop,flip | flip | none | auto (crop+flip on 32x32 RGB)
    schedule: str = "cosine"            # cosine (per step) | step (x gamma at milestones)
    warmup: float | None = None         # linear warm-up in epochs; default 5 % of them (cosine)
    recipe: str | None = None           # the named recipe the settings came from, if any
    sphere_weight_decay: bool = False   # l2 decay on SphereConv/W-Softmax weights (001: none)

    def resolved(self) -> "TrainConfig":
        c = dataclasses.replace(self)
        if c.lr is None:
            c.lr = 0.01 if c.optimizer == "sgd" else 0.001
        if c.weight_decay is None:
            c.weight_decay = 0.01 if c.optimizer == "adamw" else 1e-4
        if c.warmup is None:
            c.warmup = 0.05 * c.epochs if c.schedule == "cosine" else 0.0
        if c.milestones is None:
            c.milestones = sorted({m for m in (int(0.4 * c.epochs), int(0.8 * c.epochs)) if m > 0})
        c.joint_weights = tuple(float(w) for w in c.joint_weights)
        if c.reduction is None and c.loss in PROTOTYPE_LOSSES:
            c.reduction = DEFAULT_REDUCTION
        return c

    def with_recipe(self, name: str, explicit=()) -> "TrainConfig":
        """This config with the settings of recipe ``name``, except those in ``explicit``."""
        if name not in RECIPES:
            raise InputError(f"unknown recipe {name!r} (choose from {', '.join(RECIPES)})")
        explicit = set(explicit)
        values = {k: v for k, v in RECIPES[name].items() if k not in explicit}
        # Regulariser settings merge key by key: the user's explicit ones win.
        regs = dict(self.regularizers)
        for key, value in values.pop("regularizers", {}).items():
            if key not in explicit:
                regs[key] = value
        for key, message in RECIPE_NEEDS.get(name, {}).items():
            if not regs.get(key):
                raise InputError(message)
        return dataclasses.replace(self, recipe=name, regularizers=regs, **values)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["joint_weights"] = list(self.joint_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        # Runs written before these settings existed trained without augmentation, with the
        # batch mean, a step schedule and decay on every weight: keep resuming/evaluating
        # them that way.
        d = {"augment": "none", "schedule": "step", "warmup": 0.0, "sphere_weight_decay": True,
             **d}
        if d.get("loss", "prototype") in PROTOTYPE_LOSSES:
            d.setdefault("reduction", "mean")
        c = cls(**{k: v for k, v in d.items() if k in names})
        c.joint_weights = tuple(c.joint_weights)
        return c


def check_config(c: TrainConfig) -> None:
    """Refuse contradictory settings before any data is read."""
    if c.task not in TASKS:
        raise InputError(f"unknown task {c.task!r} (choose from {', '.join(TASKS)})")
    if c.optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {c.optimizer!r} (choose from {', '.join(OPTIMIZERS)})")
    if c.epochs < 1 or c.batch_size < 1:
        raise InputError("--epochs and --batch-size must be at least 1")
    if c.dim is not None and c.dim < 1:
        raise InputError(f"--dim must be positive, got {c.dim}")
    if c.task == "regression" and c.loss not in ("prototype", "squared"):
        raise InputError(f"regression takes --loss prototype or squared, not {c.loss!r}")
    if c.task == "joint" and c.loss not in ("prototype", "multitask"):
        raise InputError(f"the joint task takes --loss prototype or multitask (the paper's "
                         f"cross-entropy + squared-loss baseline), not {c.loss!r}")
    if c.loss == "multitask" and c.task != "joint":
        raise InputError("--loss multitask is the joint task's baseline (use --task joint)")
    if c.reduction is not None:
        if c.reduction not in REDUCTIONS:
            raise InputError(f"unknown reduction {c.reduction!r} (choose from sum, mean)")
        if c.loss not in PROTOTYPE_LOSSES:
            raise InputError(f"--reduction applies to the prototype losses, not --loss {c.loss} "
                             "(cross-entropy heads average over the batch)")
    if c.amp_dtype not in ("auto", "bf16", "fp16"):
        raise InputError(f"unknown --amp-dtype {c.amp_dtype!r} (choose from auto, bf16, fp16)")
    if c.schedule not in SCHEDULES:
        raise InputError(f"unknown schedule {c.schedule!r} (choose from {', '.join(SCHEDULES)})")
    if c.warmup is not None and (c.warmup < 0 or c.warmup >= c.epochs):
        raise InputError(f"--warmup must be in [0, epochs), got {c.warmup}")
    mean = c.head_options.get("mean")
    if mean is not None and (c.loss != "ncm" or mean not in NCM_MEANS):
        raise InputError(f"--ncm-mean {mean} needs --loss ncm and one of {', '.join(NCM_MEANS)}")
    if c.task == "classification" and c.loss == "squared":
        raise InputError("--loss squared is the regression baseline (use --task regression)")
    if c.loss == "squared" and c.prototypes:
        raise InputError("--loss squared uses no prototypes (drop --prototypes)")


@dataclass
class RunInfo:
    """What a run resolved from its data and prototypes (config.json's "resolved").

    ``bounds`` are the regression label range of the training split ((None, None) without
    values); ``input_mean``/``input_std`` normalise every input (one number for images; one per
    feature, as lists, for tabular inputs of shape (1, 1, F)); ``prototype_shape`` lets
    evaluate/resume rebuild the head with placeholders that the checkpoint's buffers replace.
    """

    num_classes: int | None
    bounds: tuple
    prototypes: dict                    # where the prototypes came from (source, method, ...)
    prototype_shape: tuple | None
    input_shape: tuple
    input_mean: float | list
    input_std: float | list
    class_names: list | None
    train_size: int
    test_size: int
    dataset_info: dict
    out_dim: int

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["bounds"] = list(self.bounds)
        d["input_shape"] = list(self.input_shape)
        if self.prototype_shape is not None:
            d["prototype_shape"] = list(self.prototype_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunInfo":
        """From config.json; a missing key raises KeyError (the caller reports the file)."""
        shape = d["prototype_shape"]
        return cls(num_classes=d["num_classes"], bounds=tuple(d["bounds"]),
                   prototypes=dict(d.get("prototypes") or {}),
                   prototype_shape=None if shape is None else tuple(int(s) for s in shape),
                   input_shape=tuple(int(s) for s in d["input_shape"]),
                   input_mean=_number_or_list(d["input_mean"]),
                   input_std=_number_or_list(d["input_std"]),
                   class_names=d.get("class_names"), train_size=int(d.get("train_size", 0)),
                   test_size=int(d.get("test_size", 0)),
                   dataset_info=dict(d.get("dataset_info") or {}), out_dim=int(d["out_dim"]))


def _number_or_list(value):
    return [float(v) for v in value] if isinstance(value, list) else float(value)

"""The training loop: one readable function, ``train``, in the style of nanoGPT.

    config ─> prepare (data, prototypes, head, model; every check before anything is written)
           ─> run directory (config.json) ─> epochs: shuffle (seed, epoch) ─> steps ─> evaluate
           ─> metrics.jsonl line + atomic checkpoint.pt ─> report.json

Device: ``auto`` picks CUDA when present; ``--amp`` runs the network in float16 autocast with a
gradient scaler (CUDA only; losses are computed in float32). Data stay in memory; a DataLoader
over *batches of indices* gathers each batch in worker processes and pins it, so a GPU is fed
without per-example Python overhead. Under ``torchrun`` (WORLD_SIZE > 1) the network is wrapped in
DistributedDataParallel (NCCL on CUDA, gloo on CPU); each rank takes every WORLD_SIZE-th example
of the epoch's permutation and rank 0 writes the files.

Resume: the epoch's permutation depends only on (seed, epoch), and the checkpoint holds the
model (with the head's buffers), optimiser, scheduler, gradient scaler and every RNG state, so
``--resume`` after epoch k continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from protogen.errors import FileFormatError, InputError
from protogen.io import atomic_path, load_prototypes
from protogen.train import heads as H
from protogen.train import metrics as M
from protogen.train.data import DataSet, Split, load_dataset
from protogen.train.models import build_model

TASKS = ("classification", "regression", "joint")
OPTIMIZERS = ("sgd", "adam")
CONFIG_FILE, CHECKPOINT_FILE, METRICS_FILE, REPORT_FILE = (
    "config.json", "checkpoint.pt", "metrics.jsonl", "report.json")


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
    optimizer: str = "sgd"
    lr: float | None = None             # default 0.01 (SGD, the paper) or 0.001 (Adam)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: list | None = None      # default: 40 % and 80 % of the epochs (paper: 100, 200 of 250)
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    workers: int | None = None          # DataLoader workers; default 0 on CPU, 4 on CUDA
    limit_train: int | None = None
    limit_test: int | None = None
    eval_batch_size: int = 1024
    threads: int | None = None          # torch intra-op CPU threads; default: torch's choice

    def resolved(self) -> "TrainConfig":
        c = dataclasses.replace(self)
        if c.lr is None:
            c.lr = 0.01 if c.optimizer == "sgd" else 0.001
        if c.milestones is None:
            c.milestones = sorted({m for m in (int(0.4 * c.epochs), int(0.8 * c.epochs)) if m > 0})
        c.joint_weights = tuple(float(w) for w in c.joint_weights)
        return c

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["joint_weights"] = list(self.joint_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        c = cls(**{k: v for k, v in d.items() if k in names})
        c.joint_weights = tuple(c.joint_weights)
        return c


def check_config(c: TrainConfig) -> None:
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
    if c.task == "joint" and c.loss != "prototype":
        raise InputError(f"the joint task uses the prototype loss, not {c.loss!r}")
    if c.task == "classification" and c.loss == "squared":
        raise InputError("--loss squared is the regression baseline (use --task regression)")
    if c.loss == "squared" and c.prototypes:
        raise InputError("--loss squared uses no prototypes (drop --prototypes)")


# ---------------------------------------------------------------------------------- device
def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda but no CUDA device is available (use --device cpu)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name != "cpu":
        raise InputError(f"unknown device {name!r} (choose from auto, cpu, cuda)")
    return torch.device("cpu")


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False      # this call created the process group (and ends it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """Under torchrun (WORLD_SIZE > 1) join the process group: NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        # Each rank owns one GPU; NCCL's communicators use the current device.
        torch.cuda.set_device(local % torch.cuda.device_count())
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(rank, world, local, owns)


def _all_reduce(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world > 1:
        import torch.distributed as dist

        dist.all_reduce(t)
    return t


# -------------------------------------------------------------------------- preparation
class Network(nn.Module):
    """The network and its head as one module (what DDP wraps and the checkpoint stores)."""

    def __init__(self, model: nn.Module, head: H.Head):
        super().__init__()
        self.model, self.head = model, head

    def forward(self, x):
        return self.head(self.model(x))


@dataclass
class Prepared:
    config: TrainConfig
    data: DataSet
    net: Network
    info: dict                      # resolved: dims, bounds, prototype source, normalisation


def _word_vector_prototypes(spec: str, data: DataSet, dim: int | None, seed: int):
    from protogen import semantics

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
    if c.task in ("classification", "joint"):
        if k is not None and data.class_names and len(data.class_names) != pset.num_classes:
            raise InputError(f"the prototype file has {pset.num_classes} prototypes but data set "
                             f"{data.name!r} has {len(data.class_names)} classes")
        if data.class_names and pset.class_names and list(pset.class_names) != list(data.class_names):
            diff = next(i for i, (a, b) in enumerate(zip(pset.class_names, data.class_names))
                        if a != b) if len(pset.class_names) == len(data.class_names) else 0
            raise InputError(f"class names differ: the prototype file has "
                             f"{pset.class_names[diff]!r} where data set {data.name!r} has "
                             f"{data.class_names[diff]!r} (class {diff})")
    return pset.prototypes, info


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


def _build_head(c: TrainConfig, protos, k: int | None, bounds) -> tuple[H.Head, int]:
    """The head and the network output dimension it expects."""
    if c.task == "classification":
        builder = H.HEADS.get(c.loss)
        if builder is None:
            from protogen.train.models import _load_plugins

            _load_plugins()
            builder = H.HEADS.get(c.loss)
        if builder is None:
            raise InputError(f"unknown loss {c.loss!r} (choose from {', '.join(sorted(H.HEADS))}"
                             "; w-softmax/ga-softmax need protogen.layers)")
        if c.loss == "prototype":
            if protos is None:
                raise InputError("--loss prototype needs --prototypes FILE (or onehot, "
                                 "word-vectors)")
            dim = protos.shape[1]
        else:
            dim = protos.shape[1] if protos is not None else (c.dim or k)
        return builder(dim, k, prototypes=protos, **c.head_options), dim
    lo, hi = bounds
    if c.task == "regression":
        if c.loss == "squared":
            dim = (c.dim or 2) if c.hidden else 1
            return H.SquaredRegressionHead(dim, lo, hi, hidden=c.hidden), dim
        if protos is not None:
            if protos.shape[0] != 2 or np.dot(protos[0], protos[1]) > -1 + 1e-6:
                raise InputError("regression prototypes must be two opposite points (K = 2, "
                                 "p_l = -p_u); or leave out --prototypes")
            upper = protos[0]
        else:
            upper = np.eye(c.dim or 2)[0]
        return H.RegressionHead(upper, lo, hi), upper.shape[0]
    if protos is None:
        raise InputError("the joint task needs --prototypes FILE with the class prototypes in "
                         "D-1 dimensions (the regression axis is added as the last)")
    classes, upper = H.joint_prototypes(protos)
    if c.dim is not None and c.dim != classes.shape[1]:
        raise InputError(f"--dim {c.dim} but the joint output space of a {protos.shape[1]}-d "
                         f"prototype file has {classes.shape[1]} dimensions")
    return H.JointHead(classes, upper, lo, hi, c.joint_weights), classes.shape[1]


def _build_model(c: TrainConfig, input_shape, out_dim: int) -> nn.Module:
    try:
        return build_model(c.model, input_shape, out_dim, **c.model_options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise InputError(f"model {c.model!r} does not take "
                             f"{', '.join(sorted(c.model_options))}") from None
        raise


def _placeholder(shape) -> np.ndarray:
    """Unit rows of the saved prototype shape (two opposite ones for K = 2, as regression
    requires); the checkpoint's buffers replace them."""
    k, dim = shape
    p = np.zeros((k, dim))
    p[:, 0] = 1.0
    if k == 2:
        p[1, 0] = -1.0
    return p


def prepare(c: TrainConfig, *, data: DataSet | None = None, info: dict | None = None) -> Prepared:
    """Load the data and prototypes, build head and model and check they fit together. With
    ``info`` (from a run's config.json) the head is rebuilt with placeholders of the saved
    shapes, to be filled from the checkpoint (the prototype file is not read again)."""
    check_config(c)
    if data is None:
        data = load_dataset(c.dataset, seed=c.seed, limit_train=c.limit_train,
                            limit_test=c.limit_test)
    _needs(data, c.task)
    if info is None:
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
        x = data.train.x
        info = {"num_classes": k, "bounds": list(bounds), "prototypes": proto_info,
                "prototype_shape": None if protos is None else list(protos.shape),
                "input_shape": list(data.input_shape),
                "input_mean": float(x.mean()), "input_std": float(x.std()) or 1.0,
                "class_names": data.class_names, "train_size": len(data.train),
                "test_size": len(data.test), "dataset_info": data.info}
    else:
        shape = info.get("prototype_shape")
        protos = None if shape is None else _placeholder(shape)
        k, bounds = info["num_classes"], tuple(info["bounds"])
        if c.task in ("regression", "joint"):
            bounds = (0.0, 1.0)
        if tuple(data.input_shape) != tuple(info["input_shape"]):
            raise InputError(f"data set {data.name!r} has inputs of shape {data.input_shape}, "
                             f"the run was trained on {tuple(info['input_shape'])}")
        if k is not None and c.task != "regression":
            _check_labels(data, k)
            saved = info.get("class_names")
            if data.class_names and saved and list(data.class_names) != list(saved):
                raise InputError(f"data set {data.name!r} has classes {data.class_names[:3]}..., "
                                 f"the run was trained on {saved[:3]}...")
    head, out_dim = _build_head(c, protos, k, bounds)
    model = _build_model(c, data.input_shape, out_dim)
    with torch.no_grad():
        model.eval()
        got = model(torch.zeros(2, *data.input_shape)).shape
        model.train()
    if len(got) != 2 or got[1] != out_dim:
        raise InputError(f"model {c.model!r} outputs {tuple(got[1:])} values per example but "
                         f"the head needs {out_dim} (the prototype dimension)")
    info["out_dim"] = out_dim
    return Prepared(c, data, Network(model, head), info)


# ------------------------------------------------------------------------------ batches
class _Batches(torch.utils.data.Dataset):
    """Item i of the DataLoader is a whole batch: gathered by index in one call (fast), in a
    worker process when there are workers, and pinned by the loader on CUDA."""

    def __init__(self, split: Split, mean: float, std: float, batches: list):
        self.x = torch.from_numpy(split.x)
        n = len(split)
        self.labels = torch.from_numpy(split.labels) if split.labels is not None \
            else torch.zeros(n, dtype=torch.long)
        self.values = torch.from_numpy(split.values.astype(np.float32)) \
            if split.values is not None else torch.zeros(n)
        self.mean, self.std, self.batches = mean, std, batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        idx = self.batches[i]
        return (self.x[idx] - self.mean) / self.std, self.labels[idx], self.values[idx]


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, d: Dist) -> list:
    """This rank's batches of the epoch: a permutation fixed by (seed, epoch), padded to a
    multiple of the world size (DistributedSampler's convention), every WORLD-th example."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g)
    if d.world > 1:
        pad = (-n) % d.world
        perm = torch.cat([perm, perm[:pad]])[d.rank::d.world]
    return list(torch.split(perm, batch_size))


def _loader(split: Split, info: dict, batches: list, workers: int, pin: bool):
    ds = _Batches(split, info["input_mean"], info["input_std"], batches)
    return torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False, num_workers=workers,
                                       pin_memory=pin, persistent_workers=False)


def _targets(task: str, labels, values):
    if task == "classification":
        return labels
    if task == "regression":
        return values
    return labels, values


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(net: Network, split: Split, info: dict, task: str, device, d: Dist = Dist(), *,
             batch_size: int = 1024, amp: bool = False, keep_outputs: bool = False) -> dict:
    """Test figures over a split (summed over DDP ranks): accuracy, per-class accuracy and
    confusion matrix for classes, MAE for values; optionally the raw outputs."""
    net.eval()
    n = len(split)
    index = torch.arange(n)[d.rank::d.world] if d.world > 1 else torch.arange(n)
    k = info["num_classes"]
    conf = torch.zeros(k * k if k else 1, dtype=torch.float64)
    abs_err = torch.zeros(2, dtype=torch.float64)
    outs = []
    loader = _loader(split, info, list(torch.split(index, batch_size)), 0, False)
    for x, labels, values in loader:
        x = x.to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            out = net(x)
        pred = net.head.predict(out.float())
        if task == "joint":
            pred_labels, pred_values = pred
        elif task == "classification":
            pred_labels, pred_values = pred, None
        else:
            pred_labels, pred_values = None, pred
        if pred_labels is not None:
            conf += torch.bincount(labels * k + pred_labels.cpu(), minlength=k * k).double()
        if pred_values is not None:
            abs_err += torch.tensor([(pred_values.cpu().double() - values.double()).abs().sum(),
                                     len(values)], dtype=torch.float64)
        if keep_outputs:
            outs.append(out.float().cpu())
    net.train()
    _all_reduce(conf, d)
    _all_reduce(abs_err, d)
    report: dict = {"examples": n}
    if task != "regression":
        confusion = conf.reshape(k, k).numpy().astype(np.int64)
        report.update(M.classification_report(confusion, info.get("class_names")))
    if task != "classification":
        report["mae"] = float(abs_err[0] / abs_err[1]) if abs_err[1] else float("nan")
    if keep_outputs:
        report["outputs"] = torch.cat(outs).numpy() if outs else np.zeros((0, info["out_dim"]))
    return report


# ------------------------------------------------------------------------- checkpoints
def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(run_dir) -> dict:
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileFormatError(f"{path}: no checkpoint (was this run directory written by "
                              "protogen train?)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path} is damaged or truncated ({msg})") from None
    if not isinstance(ckpt, dict) or "net" not in ckpt or "epoch" not in ckpt:
        raise FileFormatError(f"{path} is not a protogen checkpoint")
    return ckpt


def load_run_config(run_dir) -> tuple[TrainConfig, dict]:
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    try:
        saved = json.loads(path.read_text())
        return TrainConfig.from_dict(saved["config"]), saved["resolved"]
    except FileNotFoundError:
        raise FileFormatError(f"{path}: missing (not a protogen run directory)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(f"{path} is damaged ({exc})") from None


def _write_json(path: Path, obj) -> None:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _prepare_run_dir(run_dir: Path, force: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir} exists and is not a directory")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
        raise InputError(f"run directory {run_dir} is not empty (use --resume to continue it "
                         "or --force to start over)")


# ----------------------------------------------------------------------------- training
def build_regularizers(prep: Prepared) -> list[Callable[[], torch.Tensor]]:
    """The layers package's regularisers (MHE, orthogonality, hierarchy) for this network."""
    spec = {k: v for k, v in prep.config.regularizers.items() if v not in (None, 0, 0.0, "")}
    if not spec:
        return []
    try:
        from protogen.layers import build_regularizers as layers_regularizers
    except ImportError:
        raise InputError(f"--{next(iter(spec)).replace('_', '-')} needs protogen.layers, which "
                         "this installation does not have") from None
    return list(layers_regularizers(prep.net.model, class_names=prep.info.get("class_names"),
                                    head=prep.net.head, **prep.config.regularizers))


def _optimizer(c: TrainConfig, params):
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)


def _log(msg: str, d: Dist, log) -> None:
    if d.main and log is not None:
        log(msg)


def train(config: TrainConfig | None = None, run_dir=None, *, resume: bool = False,
          force: bool = False, progress: bool = True, stop_after: int | None = None,
          log: Callable[[str], None] | None = print, data: DataSet | None = None) -> dict:
    """Train (or, with ``resume``, continue) a run; returns the final report (a dict).

    ``stop_after`` ends the call after that many epochs in total (an interruption, for tests and
    time-sliced jobs); ``--resume`` later continues from the checkpoint.
    """
    run_dir = Path(run_dir)
    if resume:
        config, info = load_run_config(run_dir)
        ckpt = load_checkpoint(run_dir)           # before anything in run_dir is touched
    else:
        if config is None:
            raise InputError("train needs a config (or resume=True with a run directory)")
        config, info, ckpt = config.resolved(), None, None
        _prepare_run_dir(run_dir, force)
    c = config
    d = init_distributed(c.device)
    device = resolve_device(c.device, d.local_rank)
    if c.amp and device.type != "cuda":
        raise InputError("--amp (float16 mixed precision) needs a CUDA device")
    if c.threads:
        torch.set_num_threads(c.threads)
    torch.manual_seed(c.seed)
    np.random.seed(c.seed)
    random.seed(c.seed)
    prep = prepare(c, data=data, info=info)
    info, net = prep.info, prep.net
    if ckpt is not None:
        try:
            net.load_state_dict(ckpt["net"])
        except RuntimeError as exc:
            raise FileFormatError(f"{run_dir / CHECKPOINT_FILE} does not fit the run's network "
                                  f"({str(exc).splitlines()[0]})") from None
    net.to(device)
    regs = build_regularizers(prep)
    model = net
    if d.world > 1:
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = _optimizer(c, [p for p in net.parameters() if p.requires_grad])
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, c.milestones, gamma=c.gamma)
    scaler = torch.amp.GradScaler("cuda", enabled=c.amp)
    start = 0
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        start = int(ckpt["epoch"])
    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if ckpt is None:
            _write_json(run_dir / CONFIG_FILE, {
                "config": c.to_dict(), "resolved": info, "world_size": d.world,
                "device": str(device), "torch": torch.__version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
            for name in (METRICS_FILE, REPORT_FILE, CHECKPOINT_FILE):
                (run_dir / name).unlink(missing_ok=True)  # --force: start the logs afresh
        else:
            _truncate_metrics(run_dir / METRICS_FILE, start)
    workers = c.workers if c.workers is not None else (4 if device.type == "cuda" else 0)
    pin = device.type == "cuda"
    task, k = c.task, info["num_classes"]
    _log(f"training {c.model} with {c.loss} loss on {c.dataset} ({len(prep.data.train)} train, "
         f"{len(prep.data.test)} test), output dimension {info['out_dim']}, {device}"
         + (f", {d.world} processes" if d.world > 1 else "")
         + (f", resuming after epoch {start}" if start else ""), d, log)
    last = stop_after if stop_after is not None else c.epochs
    report: dict = {}
    for epoch in range(start, min(c.epochs, last)):
        t0 = time.perf_counter()
        batches = epoch_batches(len(prep.data.train), c.batch_size, c.seed, epoch, d)
        loader = _loader(prep.data.train, info, batches, workers, pin)
        # loss·n, correct, |error|, n: kept on the device so steps do not wait for the GPU
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        bar = _bar(loader, progress and d.main, f"epoch {epoch + 1}/{c.epochs}")
        for step, (x, labels, values) in enumerate(bar):
            x = x.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            values = values.to(device, non_blocking=True)
            targets = _targets(task, labels, values)
            with torch.autocast(device.type, dtype=torch.float16, enabled=c.amp):
                outputs = model(x)
            loss = net.head.loss(outputs.float(), targets)
            for reg in regs:
                loss = loss + reg()
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            with torch.no_grad():
                pred = net.head.predict(outputs.detach().float())
                sums[0] += loss.detach().double() * len(x)
                sums[3] += len(x)
                if task == "classification":
                    sums[1] += (pred == labels).sum()
                elif task == "regression":
                    sums[2] += (pred - values).abs().sum().double()
                else:
                    sums[1] += (pred[0] == labels).sum()
                    sums[2] += (pred[1] - values).abs().sum().double()
            if hasattr(bar, "set_postfix") and step % 20 == 0:
                bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        train_time = time.perf_counter() - t0
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        _all_reduce(sums, d)
        sums = sums.cpu()
        test = evaluate(net, prep.data.test, info, task, device, d, batch_size=c.eval_batch_size,
                        amp=c.amp)
        n_seen = float(sums[3])
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": float(sums[0]) / n_seen,
               "train_examples": int(n_seen), "world_size": d.world,
               "train_time_s": train_time, "examples_per_s": n_seen / train_time}
        if task != "regression":
            row["train_accuracy"] = float(sums[1]) / n_seen
            row["test_accuracy"] = test["accuracy"]
        if task != "classification":
            row["train_mae"] = float(sums[2]) / n_seen
            row["test_mae"] = test["mae"]
        row["epoch_time_s"] = time.perf_counter() - t0
        if d.main:
            _append_jsonl(run_dir / METRICS_FILE, row)
            _save_checkpoint(run_dir, epoch + 1, net, optimizer, scheduler, scaler, c, row)
        if d.world > 1:
            import torch.distributed as dist

            dist.barrier()
        _log(_format_row(row), d, log if not progress else _tqdm_write(log))
        report = {"epoch": epoch + 1, "finished": False, **test}
    if (stop_after is None or stop_after >= c.epochs) and (report or start >= c.epochs):
        if not report:
            report = {"epoch": start, **evaluate(net, prep.data.test, info, task, device, d,
                                                 batch_size=c.eval_batch_size, amp=c.amp)}
        report = _final_report(report, c, info, run_dir, device, d)
        if d.main:
            _write_json(run_dir / REPORT_FILE, report)
            _log(format_report(report), d, log)
    if d.owns_group:
        import torch.distributed as dist

        dist.destroy_process_group()
    return report


def _bar(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False, unit="batch")


def _tqdm_write(log):
    if log is not print:
        return log
    from tqdm.auto import tqdm

    return tqdm.write


def _format_row(row: dict) -> str:
    parts = [f"epoch {row['epoch']:>3}", f"loss {row['train_loss']:.4f}"]
    if "test_accuracy" in row:
        parts.append(f"train acc {row['train_accuracy']:.4f}  test acc {row['test_accuracy']:.4f}")
    if "test_mae" in row:
        parts.append(f"train MAE {row['train_mae']:.4g}  test MAE {row['test_mae']:.4g}")
    parts.append(f"{row['train_time_s']:.2f} s")
    return "  ".join(parts)


def _append_jsonl(path: Path, row: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row, default=_json_default) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _truncate_metrics(path: Path, epochs: int) -> None:
    """On resume drop lines of epochs after the checkpoint (an interruption between the log
    line and the checkpoint), so the log equals that of an uninterrupted run."""
    if not path.exists():
        return
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keep = [r for r in rows if r.get("epoch", 0) <= epochs]
    if len(keep) != len(rows):
        with atomic_path(path, force=True) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))


def _save_checkpoint(run_dir, epoch, net, optimizer, scheduler, scaler, c, row) -> None:
    state = {"epoch": epoch, "net": net.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             "rng": _rng_state(), "config": c.to_dict(), "metrics": row}
    with atomic_path(Path(run_dir) / CHECKPOINT_FILE, force=True) as tmp:
        torch.save(state, tmp)


def _final_report(test: dict, c: TrainConfig, info: dict, run_dir, device, d: Dist) -> dict:
    rows = read_metrics(run_dir) if d.main else []
    test = {**test, "finished": True}
    return {"run_dir": str(run_dir), "dataset": c.dataset, "task": c.task, "loss": c.loss,
            "model": c.model, "prototypes": info.get("prototypes", {}).get("source"),
            "out_dim": info["out_dim"], "num_classes": info["num_classes"], "seed": c.seed,
            "device": str(device), "world_size": d.world, "amp": c.amp,
            "train_time_s": sum(r["train_time_s"] for r in rows),
            **{k: v for k, v in test.items() if k != "outputs"}}


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def format_report(report: dict) -> str:
    lines = [f"run {report.get('run_dir', '')}: {report['task']} on {report['dataset']}, "
             f"{report['model']} + {report['loss']} loss, D = {report['out_dim']}, "
             f"{report['epoch']} epochs"]
    if "accuracy" in report:
        lines.append(f"  test accuracy  {report['accuracy']:.4f} ({report['examples']} examples)")
        per = report["per_class_accuracy"]
        lines.append("  per class      " + "  ".join(
            f"{n}:{'-' if a is None else f'{a:.3f}'}" for n, a in per.items()))
        conf = np.array(report["confusion_matrix"])
        lines.append("  confusion (rows = true, columns = predicted)")
        lines += ["    " + line for line in
                  M.format_confusion(conf, list(per)).splitlines()]
    if "mae" in report:
        lines.append(f"  test MAE       {report['mae']:.4g}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- evaluate run
def evaluate_run(run_dir, *, dataset: str | None = None, device: str = "auto",
                 keep_outputs: bool = False, limit_test: int | None = None) -> dict:
    """Rebuild a run's network from its directory and evaluate it on the test split of its data
    set (or of ``dataset``, which must have the same input shape and classes)."""
    c, info = load_run_config(run_dir)
    ckpt = load_checkpoint(run_dir)
    c = dataclasses.replace(c, device=device)
    if dataset is not None:
        c = dataclasses.replace(c, dataset=dataset)
    if limit_test is not None:
        c = dataclasses.replace(c, limit_test=limit_test)
    dev = resolve_device(c.device)
    prep = prepare(c, info=dict(info))
    try:
        prep.net.load_state_dict(ckpt["net"])
    except RuntimeError as exc:
        raise FileFormatError(f"{Path(run_dir) / CHECKPOINT_FILE} does not fit the run's "
                              f"network ({str(exc).splitlines()[0]})") from None
    prep.net.to(dev)
    test = evaluate(prep.net, prep.data.test, info, c.task, dev, keep_outputs=keep_outputs)
    if keep_outputs:
        split = prep.data.test
        test["labels"] = split.labels
        test["values"] = split.values
    report = {"epoch": int(ckpt["epoch"]), **test}
    out = _final_report(report, c, info, run_dir, dev, Dist())
    if keep_outputs:
        out.update({k: test[k] for k in ("outputs", "labels", "values")})
    return out

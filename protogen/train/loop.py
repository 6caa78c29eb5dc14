"""The device, the processes, and the epoch: batches, steps, evaluation.

Device: ``auto`` picks CUDA when present; ``--amp`` runs the network in float16 autocast with a
gradient scaler (CUDA only; losses are computed in float32). Data stay in memory; a DataLoader
over *batches of indices* gathers each batch in worker processes and pins it, so a GPU is fed
without per-example Python overhead. Under ``torchrun`` (WORLD_SIZE > 1) the network is wrapped
in DistributedDataParallel (NCCL on CUDA, gloo on CPU); each rank takes every WORLD_SIZE-th
example of the epoch's permutation, which depends only on (seed, epoch), so a resumed run
draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from protogen.errors import InputError
from protogen.layers import call_regularizer
from protogen.train import metrics as M
from protogen.train.augment import Augment, parse_augment
from protogen.train.build import Network, Optimisation, Prepared
from protogen.train.config import RunInfo
from protogen.train.data import Split


# ---------------------------------------------------------------------- device, processes
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

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        """Sum ``t`` over the ranks, in place."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


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


def wrap(net: Network, device: torch.device, d: Dist) -> nn.Module:
    """The module the steps call: ``net`` itself, or its DDP wrapper under torchrun."""
    if d.world == 1:
        return net
    return nn.parallel.DistributedDataParallel(
        net, device_ids=[device.index] if device.type == "cuda" else None)


# -------------------------------------------------------------------------------- batches
def _as_scale(value):
    """A normalisation constant: a float, or per-feature values shaped (1, 1, F) to broadcast
    over tabular batches (N, 1, 1, F)."""
    if isinstance(value, (list, tuple)):
        return torch.tensor(value, dtype=torch.float32).reshape(1, 1, -1)
    return value


class _Batches(torch.utils.data.Dataset):
    """Item i of the DataLoader is a whole batch: gathered by index in one call (fast), in a
    worker process when there are workers, and pinned by the loader on CUDA."""

    def __init__(self, split: Split, mean, std, batches: list):
        self.x = torch.from_numpy(split.x)
        mean, std = _as_scale(mean), _as_scale(std)
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


def steps_per_epoch(n: int, batch_size: int, d: "Dist") -> int:
    """Batches per epoch on this rank (what a per-step schedule counts)."""
    per_rank = -(-n // d.world)
    return max(1, -(-per_rank // batch_size))


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, d: Dist) -> list:
    """This rank's batches of the epoch: a permutation fixed by (seed, epoch), padded to a
    multiple of the world size (DistributedSampler's convention), every WORLD-th example."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g)
    if d.world > 1:
        pad = (-n) % d.world
        perm = torch.cat([perm, perm[:pad]])[d.rank::d.world]
    return list(torch.split(perm, batch_size))


class _DeviceBatches:
    """The whole split normalised once and kept on the GPU; batches are gathered there, so
    in-memory data sets cross the PCIe bus once per run instead of once per batch."""

    def __init__(self, split: Split, mean, std, device: torch.device):
        mean, std = _as_scale(mean), _as_scale(std)
        if isinstance(mean, torch.Tensor):
            mean, std = mean.to(device), std.to(device)
        self.x = ((torch.from_numpy(split.x).to(device) - mean) / std)
        n = len(split)
        self.labels = (torch.from_numpy(split.labels) if split.labels is not None
                       else torch.zeros(n, dtype=torch.long)).to(device)
        self.values = (torch.from_numpy(split.values.astype(np.float32)) if split.values is not None
                       else torch.zeros(n)).to(device)

    def batches(self, batches: list):
        for idx in batches:
            idx = idx.to(self.x.device, non_blocking=True)
            yield self.x[idx], self.labels[idx], self.values[idx]


# Keep a split on the GPU when it takes at most this share of the free GPU memory.
DEVICE_DATA_SHARE = 0.25


def batch_source(split: Split, info: RunInfo, batches: list, device: torch.device,
                 workers: int = 0, cache: dict | None = None):
    """Batches of (x, labels, values): gathered on the GPU from a device-resident copy when the
    split fits (cached in ``cache`` across epochs), else from a pinned-memory DataLoader."""
    if device.type == "cuda" and cache is not None:
        key = id(split)
        if key not in cache:
            free, _ = torch.cuda.mem_get_info(device)
            cache[key] = (_DeviceBatches(split, info.input_mean, info.input_std, device)
                          if split.x.nbytes <= DEVICE_DATA_SHARE * free else None)
        if cache[key] is not None:
            return cache[key].batches(batches)
    return make_loader(split, info, batches, workers, device.type == "cuda")


def amp_dtype(c, device: torch.device) -> torch.dtype:
    """The autocast dtype of --amp: bf16 where the GPU supports it (no loss scaling needed),
    float16 (with the gradient scaler) otherwise or when asked."""
    if c.amp_dtype == "fp16":
        return torch.float16
    if c.amp_dtype == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def make_loader(split: Split, info: RunInfo, batches: list, workers: int = 0,
                pin: bool = False) -> torch.utils.data.DataLoader:
    ds = _Batches(split, info.input_mean, info.input_std, batches)
    return torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False, num_workers=workers,
                                       pin_memory=pin, persistent_workers=False)


def _targets(task: str, labels, values):
    if task == "classification":
        return labels
    if task == "regression":
        return values
    return labels, values


def _bar(it, enabled: bool, desc: str, total: int | None = None):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False, unit="batch", total=total)


# ---------------------------------------------------------------------------------- epoch
def run_epoch(epoch: int, prep: Prepared, model: nn.Module, opt: Optimisation, regs: list,
              device: torch.device, d: Dist, *, progress: bool = True) -> tuple[dict, dict]:
    """Train one epoch, step the schedule and evaluate on the test split; returns the
    metrics.jsonl row and the test figures."""
    c, net, task = prep.config, prep.net, prep.config.task
    t0 = time.perf_counter()
    batches = epoch_batches(len(prep.data.train), c.batch_size, c.seed, epoch, d)
    workers = c.workers if c.workers is not None else (4 if device.type == "cuda" else 0)
    loader = batch_source(prep.data.train, prep.info, batches, device, workers, prep.cache)
    dtype = amp_dtype(c, device)
    # Running sums of loss·n, correct, |error|, n, kept on the device so that the steps never
    # wait for the GPU; the test figures below come from protogen.train.metrics.
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    bar = _bar(loader, progress and d.main, f"epoch {epoch + 1}/{c.epochs}", len(batches))
    augment = Augment(parse_augment(c.augment, prep.info.input_shape), c.seed, device)
    augment.start_epoch(epoch)
    if hasattr(net.head, "start_epoch"):
        net.head.start_epoch(epoch)
    for step, (x, labels, values) in enumerate(bar):
        x = x.to(device, non_blocking=True)
        if augment:
            x = augment(x)
        labels = labels.to(device, non_blocking=True)
        values = values.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=c.amp):
            outputs = model(x)
        loss = net.head.loss(outputs.float(), _targets(task, labels, values))
        reg_labels = labels if task != "regression" else None
        for reg in regs:
            loss = loss + call_regularizer(reg, reg_labels)
        opt.optimizer.zero_grad(set_to_none=True)
        opt.scaler.scale(loss).backward()
        opt.scaler.step(opt.optimizer)
        opt.scaler.update()
        if opt.per_step:
            opt.scheduler.step()
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
    lr = opt.optimizer.param_groups[0]["lr"]
    if not opt.per_step:
        opt.scheduler.step()
    sums = d.all_reduce(sums).cpu()
    test = evaluate(net, prep.data.test, prep.info, task, device, d,
                    batch_size=c.eval_batch_size, amp=c.amp and dtype, cache=prep.cache)
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
    return row, test


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(net: Network, split: Split, info: RunInfo, task: str, device, d: Dist = Dist(), *,
             batch_size: int = 1024, amp=False, keep_outputs: bool = False,
             cache: dict | None = None) -> dict:
    """Test figures over a split (summed over DDP ranks): accuracy, per-class accuracy and
    confusion matrix for classes, MAE for values; optionally the raw outputs. ``amp``: False,
    or the autocast dtype (True means float16)."""
    net.eval()
    n = len(split)
    index = torch.arange(n)[d.rank::d.world] if d.world > 1 else torch.arange(n)
    loader = batch_source(split, info, list(torch.split(index, batch_size)), device, 0, cache)
    dtype = amp if isinstance(amp, torch.dtype) else torch.float16
    labels, values, pred_labels, pred_values, outs = [], [], [], [], []
    for x, y, v in loader:
        y, v = y.cpu(), v.cpu()
        with torch.autocast(device.type, dtype=dtype, enabled=bool(amp)):
            out = net(x.to(device))
        pred = net.head.predict(out.float())
        if task != "regression":
            labels.append(y)
            pred_labels.append((pred[0] if task == "joint" else pred).cpu())
        if task != "classification":
            values.append(v)
            pred_values.append((pred[1] if task == "joint" else pred).cpu())
        if keep_outputs:
            outs.append(out.float().cpu())
    net.train()
    report: dict = {"examples": n}
    if task != "regression":
        k = info.num_classes
        conf = M.confusion_matrix(_cat(labels), _cat(pred_labels), k)
        conf = d.all_reduce(torch.from_numpy(conf)).numpy()
        report.update(M.classification_report(conf, info.class_names))
    if task != "classification":
        err = torch.tensor([M.absolute_error_sum(_cat(values), _cat(pred_values)),
                            sum(len(v) for v in values)], dtype=torch.float64)
        err = d.all_reduce(err)
        report["mae"] = float(err[0] / err[1]) if err[1] else float("nan")
    if keep_outputs:
        report["outputs"] = torch.cat(outs).numpy() if outs else np.zeros((0, info.out_dim))
    return report


def _cat(tensors: list) -> np.ndarray:
    return torch.cat(tensors).numpy() if tensors else np.zeros(0)

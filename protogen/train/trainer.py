"""The two entry points: :func:`train` (the recipe, top to bottom, in the style of nanoGPT) and
:func:`evaluate_run`.

    config ─> prepare (data, prototypes, head, model; every check before anything is written)
           ─> run directory (config.json) ─> epochs: shuffle (seed, epoch) ─> steps ─> evaluate
           ─> metrics.jsonl line + atomic checkpoint.pt ─> report.json

The parts: :mod:`~protogen.train.config` (what defines a run), :mod:`~protogen.train.build`
(data, prototypes, head, network, regularisers, optimiser), :mod:`~protogen.train.loop` (device,
processes, the epoch, evaluation), :mod:`~protogen.train.checkpoint` (safe save/resume, RNG
state) and :mod:`~protogen.train.report` (the run directory's text files).

Resume: the epoch's permutation depends only on (seed, epoch), and the checkpoint holds the
model (with the head's buffers), optimiser, scheduler, gradient scaler and every RNG state, so
``--resume`` after epoch k continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from protogen.errors import InputError
from protogen.train import checkpoint as ckpt_io
from protogen.train import report as rep
from protogen.train.build import build_optimisation, build_regularizers, prepare
from protogen.train.config import TrainConfig
from protogen.train.data import DataSet
from protogen.train.user_model import check_saved_model
from protogen.train.loop import (Dist, amp_dtype, evaluate, init_distributed, resolve_device, run_epoch,
                                 steps_per_epoch, wrap)


def train(config: TrainConfig | None = None, run_dir=None, *, resume: bool = False,
          force: bool = False, progress: bool = True, stop_after: int | None = None,
          log: Callable[[str], None] | None = print, data: DataSet | None = None) -> dict:
    """Train (or, with ``resume``, continue) a run; returns the final report (a dict).

    ``stop_after`` ends the call after that many epochs in total (an interruption, for tests and
    time-sliced jobs); ``--resume`` later continues from the checkpoint.
    """
    run_dir = Path(run_dir)
    # 1. What to run: a new config, or the saved one and its checkpoint (read, and refused if
    #    unsafe or damaged, before anything in run_dir is touched).
    saved = ckpt = None
    if resume:
        config, saved = rep.load_run_config(run_dir)
        check_saved_model(config.model, run_dir)
        ckpt = ckpt_io.load_checkpoint(run_dir)
    elif config is None:
        raise InputError("train needs a config (or resume=True with a run directory)")
    else:
        config = config.resolved()
        rep.check_new_run_dir(run_dir, force)
    c = config
    # 2. Where: processes, device, threads, seeds.
    d = init_distributed(c.device)
    device = resolve_device(c.device, d.local_rank)
    if c.amp and device.type != "cuda":
        raise InputError("--amp (float16 mixed precision) needs a CUDA device")
    if c.threads:
        torch.set_num_threads(c.threads)
    _seed_everything(c.seed)
    # 3. What: data, prototypes, head and network; regularisers; optimiser, schedule, scaler.
    prep = prepare(c, data=data, saved=saved)
    if ckpt is not None:
        ckpt_io.restore_network(ckpt, prep.net, run_dir)
    prep.net.to(device)
    regs = build_regularizers(prep)
    model = wrap(prep.net, device, d)
    if c.compile:
        model = torch.compile(model)
    opt = build_optimisation(c, prep.net, steps_per_epoch(len(prep.data.train), c.batch_size, d))
    start = ckpt_io.restore_training(ckpt, opt, run_dir) if ckpt is not None else 0
    # 4. The run directory, then the epochs.
    if d.main:
        rep.start_run_dir(run_dir, c, prep.info, world_size=d.world, device=device,
                          done_epochs=start if ckpt is not None else None)
    _log(_describe(prep, device, d, start), d, log)
    last = min(c.epochs, stop_after if stop_after is not None else c.epochs)
    report: dict = {}
    for epoch in range(start, last):
        row, test = run_epoch(epoch, prep, model, opt, regs, device, d, progress=progress)
        if d.main:
            rep.append_metrics(run_dir, row)
            ckpt_io.save_checkpoint(run_dir, epoch + 1, prep.net, opt, c, row)
        d.barrier()
        _log(rep.format_row(row), d, log if not progress else _tqdm_write(log))
        report = {"epoch": epoch + 1, "finished": False, **test}
    # 5. The final report, once all epochs are done (also when resuming a finished run).
    if (stop_after is None or stop_after >= c.epochs) and (report or start >= c.epochs):
        if not report:
            report = {"epoch": start, **evaluate(prep.net, prep.data.test, prep.info, c.task,
                                                 device, d, batch_size=c.eval_batch_size,
                                                 amp=c.amp and amp_dtype(c, device))}
        report = rep.final_report(report, c, prep.info, run_dir, device, world_size=d.world,
                                  main=d.main)
        if d.main:
            rep.write_report(run_dir, report)
            _log(rep.format_report(report), d, log)
    d.close()
    return report


def evaluate_run(run_dir, *, dataset: str | None = None, device: str = "auto",
                 keep_outputs: bool = False, limit_test: int | None = None) -> dict:
    """Rebuild a run's network from its directory and evaluate it on the test split of its data
    set (or of ``dataset``, which must have the same input shape and classes)."""
    c, info = rep.load_run_config(run_dir)
    check_saved_model(c.model, run_dir)
    ckpt = ckpt_io.load_checkpoint(run_dir)
    c = dataclasses.replace(c, device=device)
    if dataset is not None:
        c = dataclasses.replace(c, dataset=dataset)
    if limit_test is not None:
        c = dataclasses.replace(c, limit_test=limit_test)
    dev = resolve_device(c.device)
    prep = prepare(c, saved=info)
    ckpt_io.restore_network(ckpt, prep.net, run_dir)
    prep.net.to(dev)
    test = evaluate(prep.net, prep.data.test, info, c.task, dev, keep_outputs=keep_outputs)
    out = rep.final_report({"epoch": int(ckpt["epoch"]), **test}, c, info, run_dir, dev)
    if keep_outputs:
        split = prep.data.test
        out.update(outputs=test["outputs"], labels=split.labels, values=split.values)
    return out


# ------------------------------------------------------------------------------ helpers
def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _describe(prep, device, d: Dist, start: int) -> str:
    c = prep.config
    return (f"training {c.model} with {c.loss} loss on {c.dataset} ({len(prep.data.train)} "
            f"train, {len(prep.data.test)} test), output dimension {prep.info.out_dim}, {device}"
            + (f", {d.world} processes" if d.world > 1 else "")
            + (f", resuming after epoch {start}" if start else ""))


def _log(msg: str, d: Dist, log) -> None:
    if d.main and log is not None:
        log(msg)


def _tqdm_write(log):
    """Print between progress bars instead of through them."""
    if log is not print:
        return log
    from tqdm.auto import tqdm

    return tqdm.write

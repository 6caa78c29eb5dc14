"""``protogen train`` and ``protogen evaluate``: thin wrappers over
:mod:`protogen.train`. Layers options (``--sphere-op``, ``--margin``, ``--mhe``, ``--orth``,
``--hierarchy``) reach :mod:`protogen.layers` through :mod:`protogen.train.registry` (model and
head names) and the trainer's regulariser hook."""

from __future__ import annotations

from pathlib import Path

import click

from protogen.cli import main
from protogen.cli._common import (echo_json, force_option, handle_errors, json_option,
                                  quiet_option, seed_option)
from protogen.errors import InputError


def _floats(text: str | None, what: str, count: int | None = None):
    if text is None:
        return None
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{what} expects comma-separated numbers, got {text!r}") from None
    if count is not None and len(vals) != count:
        raise InputError(f"{what} expects {count} numbers, got {text!r}")
    return vals


def _default_out(dataset: str, task: str, loss: str, seed: int) -> Path:
    name = dataset.replace(":", "-").replace("/", "_").strip("-_.") or "data"
    return Path("runs") / f"{name[:40]}-{task}-{loss}-s{seed}"


@main.command("train")
@click.option("--prototypes", "-p", metavar="FILE|onehot|word-vectors[:SRC]",
              help="Prototype file from `protogen solve`; or one-hot / word-vector baselines.")
@click.option("--dataset", default="digits", show_default=True,
              help="digits, mnist, rotated-mnist, rotated-digits, npz:PATH, hdf5:PATH, "
                   "folder:PATH.")
@click.option("--task", type=click.Choice(["classification", "regression", "joint"]),
              default="classification", show_default=True)
@click.option("--loss", default="prototype", show_default=True,
              help="prototype | softmax | ncm (learnable class means) | squared (regression "
                   "baseline) | w-softmax | ga-softmax (protogen.layers).")
@click.option("--dim", type=click.IntRange(min=1),
              help="Output dimension where no prototype file fixes it (softmax, regression).")
@click.option("--hidden", is_flag=True,
              help="Squared-loss baseline: D outputs and one more linear layer to 1.")
@click.option("--joint-weights", default="1,1", show_default=True,
              help="Weights of the classification and regression losses (joint task).")
@click.option("--model", default="mlp", show_default=True,
              help="mlp, cnn, resnet32 (or sphere-cnn from protogen.layers).")
@click.option("--sphere-op", type=click.Choice(["cosine", "linear", "sigmoid",
                                                "learnable-sigmoid"]),
              help="SphereConv operator of --model sphere-cnn.")
@click.option("--margin", type=float, help="Margin of the w-softmax / ga-softmax heads.")
@click.option("--mhe", metavar="SPEC", help="MHE regulariser, e.g. s=2,hidden=1,output=10,half-space.")
@click.option("--orth", type=click.FloatRange(min=0), help="Orthogonality regulariser weight.")
@click.option("--hierarchy", metavar="NAME|FILE", help="Class hierarchy regulariser (DH2L).")
@click.option("--hier-metric", type=click.Choice(["am", "gm", "hm", "discrete", "continuous"]),
              default="gm", show_default=True, help="Hierarchy regulariser metric.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd",
              show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="Learning rate [default: 0.01 for SGD, 0.001 for Adam].")
@click.option("--momentum", type=click.FloatRange(min=0), default=0.9, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("--milestones", help="Epochs at which the learning rate is multiplied by "
                                   "--gamma [default: 40%% and 80%% of --epochs].")
@click.option("--gamma", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True)
@seed_option
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--amp", is_flag=True, help="Mixed precision (float16 autocast; CUDA only).")
@click.option("--workers", type=click.IntRange(min=0),
              help="Data-loading worker processes [default: 0 on CPU, 4 on CUDA].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPU threads of torch. One is fastest for small networks and on a shared "
                   "machine (measured 3x faster than 2 on a loaded 2-core box); raise it for "
                   "resnet32 on an idle CPU.")
@click.option("--limit-train", type=click.IntRange(min=1), help="Use a fixed subset of N "
                                                                 "training examples.")
@click.option("--limit-test", type=click.IntRange(min=1), help="Use a fixed subset of N test "
                                                                "examples.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory [default: runs/DATASET-TASK-LOSS-sSEED].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint "
                                             "(its saved settings are used).")
@force_option
@quiet_option
@json_option
@handle_errors
def train_command(prototypes, dataset, task, loss, dim, hidden, joint_weights, model, sphere_op,
                  margin, mhe, orth, hierarchy, hier_metric, epochs, batch_size, optimizer, lr,
                  momentum, weight_decay, milestones, gamma, seed, device, amp, workers,
                  threads, limit_train, limit_test, out, resume, force, quiet, as_json):
    """Train a network against fixed hyperspherical prototypes (or a baseline).

    Writes a run directory: config.json, metrics.jsonl (one line per epoch), checkpoint.pt
    (every epoch, atomic) and report.json. Under `torchrun --nproc_per_node N` it trains with
    DistributedDataParallel.
    """
    from protogen.train import TrainConfig, train

    out = out or _default_out(dataset, task, loss, seed)
    if resume:
        if force:
            raise InputError("--resume and --force contradict each other")
        config = None
    else:
        regs = {}
        if mhe:
            regs["mhe"] = mhe
        if orth:
            regs["orth"] = orth
        if hierarchy:
            regs["hierarchy"] = hierarchy
            regs["hier_metric"] = hier_metric
        mile = _floats(milestones, "--milestones")
        model_options, head_options = {}, {}
        if margin is not None:
            head_options["margin"] = margin
        if sphere_op:
            # The operator shapes the SphereConv layers and the W-/GA-Softmax head's logits.
            if model == "sphere-cnn":
                model_options["sphere_op"] = sphere_op
            if loss in ("w-softmax", "ga-softmax"):
                head_options["operator"] = sphere_op
            if not (model_options or "operator" in head_options):
                raise InputError("--sphere-op applies to --model sphere-cnn and --loss "
                                 "w-softmax/ga-softmax")
        config = TrainConfig(
            prototypes=prototypes, dataset=dataset, task=task, loss=loss, dim=dim,
            hidden=hidden, joint_weights=tuple(_floats(joint_weights, "--joint-weights", 2)),
            model=model, model_options=model_options, head_options=head_options,
            regularizers=regs, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
            lr=lr, momentum=momentum, weight_decay=weight_decay,
            milestones=None if mile is None else [int(m) for m in mile], gamma=gamma, seed=seed,
            device=device, amp=amp, workers=workers, threads=threads, limit_train=limit_train,
            limit_test=limit_test)
    log = None if as_json else click.echo
    report = train(config, out, resume=resume, force=force, progress=not quiet, log=log)
    if as_json:
        echo_json(report)


@main.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--dataset", help="Evaluate on this data set's test split instead of the run's.")
@click.option("--limit-test", type=click.IntRange(min=1), help="A fixed subset of N test examples.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@json_option
@handle_errors
def evaluate_command(run_dir, dataset, limit_test, device, as_json):
    """Evaluate a trained run on the test split: accuracy, per-class accuracy, confusion matrix,
    MAE. Without --dataset the figures reproduce the run's report.json."""
    from protogen.train import evaluate_run, format_report

    report = evaluate_run(run_dir, dataset=dataset, device=device, limit_test=limit_test)
    if as_json:
        echo_json(report)
    else:
        click.echo(format_report(report))


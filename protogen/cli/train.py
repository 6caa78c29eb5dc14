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


# Options that map one to one onto TrainConfig fields of the same name.
_DIRECT = ("prototypes", "dataset", "task", "loss", "dim", "hidden", "model", "epochs",
           "batch_size", "optimizer", "lr", "momentum", "weight_decay", "gamma", "seed",
           "device", "amp", "workers", "threads", "limit_train", "limit_test", "reduction",
           "augment", "schedule", "warmup", "amp_dtype")


@main.command("train")
@click.option("--prototypes", "-p", metavar="FILE|onehot|word-vectors[:SRC]",
              help="Prototype file from `protogen solve`; or one-hot / word-vector baselines.")
@click.option("--allow-pickle", is_flag=True,
              help="Let --prototypes word-vectors:FILE read gensim's native .kv/.model/.wv/.pkl "
                   "files: Python pickles, which can run code when loaded. Only for trusted files.")
@click.option("--dataset", default="digits", show_default=True,
              help="digits, mnist, rotated-mnist, rotated-digits, npz:PATH, hdf5:PATH, "
                   "folder:PATH, cifar10:PATH, cifar100:PATH (official python layout, folder "
                   "or .tar.gz), idx:PATH (MNIST/Fashion-MNIST/KMNIST idx files).")
@click.option("--task", type=click.Choice(["classification", "regression", "joint"]),
              default="classification", show_default=True)
@click.option("--loss", default="prototype", show_default=True,
              help="prototype | softmax | ncm (learnable class means) | squared (regression "
                   "baseline) | multitask (joint baseline: cross-entropy + squared loss) | "
                   "w-softmax | ga-softmax | hier-softmax (protogen.layers).")
@click.option("--reduction", type=click.Choice(["sum", "mean"]),
              help="How the prototype losses reduce over a batch: sum (the paper's Eq. 1 and "
                   "official code) or mean [default: mean; --recipe hpn: sum].")
@click.option("--recipe", type=click.Choice(["hpn", "dh2l"]),
              help="A paper's full training recipe; settings given explicitly still win. hpn: "
                   "SGD 0.01, momentum 0.9, weight decay 1e-4, batch 128, 250 epochs, x0.1 at "
                   "40%% and 80%%, sum reduction, crop+flip on 32x32 images. dh2l (seed 003, "
                   "needs --hierarchy): SGD 0.1, momentum 0.9, weight decay 5e-4, batch 512, "
                   "300 epochs, --loss hier-softmax, --hier-weight 0.1, --hier-energy 0.1.")
@click.option("--dim", type=click.IntRange(min=1),
              help="Output dimension where no prototype file fixes it (softmax, regression).")
@click.option("--hidden", is_flag=True,
              help="Squared-loss baseline: D outputs and one more linear layer to 1.")
@click.option("--joint-weights", default="1,1", show_default=True,
              help="Weights of the classification and regression losses (joint task).")
@click.option("--ncm-mean", type=click.Choice(["decay", "online", "condensation"]),
              help="How --loss ncm computes its class means (Deep NCM) [default: decay].")
@click.option("--model", default="mlp", show_default=True,
              help="mlp, cnn, resnet32, sphere-cnn, cnn9, sphere-cnn9, mhe-cnn9 (protogen.layers), "
                   "or module:callable (your "
                   "own nn.Module factory, called with the output dimension).")
@click.option("--augment", default="auto", show_default=True,
              help="crop,flip | crop | flip | none; auto = crop+flip for 32x32 colour images "
                   "(the paper's CIFAR recipe), none otherwise. Runs on the training device.")
@click.option("--sphere-op", metavar="OP",
              help="SphereConv operator of --model sphere-cnn/sphere-cnn9/cnn9: cosine, linear, "
                   "sigmoid, learnable-sigmoid (also the W-Softmax operator unless --head-op).")
@click.option("--sphere-k", type=click.FloatRange(min=0, min_open=True),
              help="k of the sigmoid SphereConv operator [default: 0.5].")
@click.option("--head-op", metavar="OP",
              help="W-/GA-Softmax operator g(θ): cosine, linear, sigmoid [default: --sphere-op, "
                   "else cosine].")
@click.option("--head-k", type=click.FloatRange(min=0, min_open=True),
              help="k of the sigmoid W-/GA-Softmax [default: 0.5].")
@click.option("--norm", "norm", type=click.Choice(["batch", "sphere", "sphere-rescaled",
                                                   "sphere+batch", "sphere-rescaled+batch"]),
              help="Normalisation of the sphere-cnn/cnn9 models: BatchNorm after plain "
                   "convolutions, or SphereNorm (SphereConv as the normaliser, seed 001 §2.5; "
                   "-rescaled: learned σ·g + β), with or without BatchNorm [default: "
                   "sphere+batch for SphereConv, batch for plain].")
@click.option("--sphere-weight-decay", is_flag=True,
              help="Apply --weight-decay to SphereConv and W-Softmax weights too (seed 001 "
                   "trains them without).")
@click.option("--margin", type=float, help="Margin of the w-softmax / ga-softmax heads.")
@click.option("--mhe", metavar="SPEC", help="MHE regulariser, e.g. s=2,hidden=1,output=10,"
                                           "half-space; output-mode=data for the mini-batch "
                                           "classes only (seed 002 §3.6).")
@click.option("--orth", type=click.FloatRange(min=0), help="Orthogonality regulariser weight.")
@click.option("--hierarchy", metavar="NAME|FILE|dataset",
              help="Class hierarchy regulariser (DH2L); 'dataset' takes the data set's own "
                   "super-classes (CIFAR-100's coarse labels).")
@click.option("--hier-metric", default="gm", show_default=True, metavar="METRIC",
              help="DH2L metric: am, gm, hm, discrete, continuous, cos-am, cos-gm, cos-hm; "
                   "suffix -ternary and/or -arccos (D') for the discrete part.")
@click.option("--hier-weight", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="λ of the hierarchical regulariser.")
@click.option("--hier-scope", type=click.Choice(["batch", "full"]), default="batch",
              show_default=True, help="batch: the hierarchy of the classes in each mini-batch "
                                      "(seed 003); full: every class at every step.")
@click.option("--hier-energy", type=click.FloatRange(min=0),
              help="λ_e of DH2L's energy term on the hidden layers (every layer without "
                   "--hierarchy).")
@click.option("--energy-metric", metavar="METRIC",
              help="Metric of --hier-energy [default: --hier-metric].")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--optimizer", type=click.Choice(["adamw", "sgd", "adam"]), default="adamw",
              show_default=True, help="adamw: the measured default (benchmarks/RESULTS.md, "
                                      "train defaults); sgd: the paper's (see --recipe hpn).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True),
              help="Learning rate [default: 0.001 for AdamW/Adam, 0.01 for SGD].")
@click.option("--momentum", type=click.FloatRange(min=0), default=0.9, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(min=0),
              help="[default: 0.01 for AdamW, 1e-4 for SGD and Adam].")
@click.option("--schedule", type=click.Choice(["cosine", "step"]), default="cosine",
              show_default=True, help="cosine: per batch, after --warmup epochs of linear "
                                      "warm-up, down to 0; step: x --gamma at --milestones.")
@click.option("--warmup", type=click.FloatRange(min=0),
              help="Linear warm-up length in epochs (cosine) [default: 5%% of --epochs].")
@click.option("--milestones", help="Epochs at which the learning rate is multiplied by "
                                   "--gamma [default: 40%% and 80%% of --epochs].")
@click.option("--gamma", type=click.FloatRange(min=0, min_open=True), default=0.1,
              show_default=True)
@seed_option
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--amp", is_flag=True, help="Mixed precision autocast (CUDA only).")
@click.option("--amp-dtype", type=click.Choice(["auto", "bf16", "fp16"]), default="auto",
              show_default=True, help="auto: bf16 where the GPU supports it (no loss scaling), "
                                      "else float16 with a gradient scaler.")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the network (worth it on CUDA for long runs).")
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
@click.option("--allow-model-import", is_flag=True,
              help="With --resume: the run's model is your own module:callable; import it.")
@force_option
@quiet_option
@json_option
@handle_errors
def train_command(out, resume, force, quiet, as_json, allow_pickle, allow_model_import,
                  **opts):
    """Train a network against fixed hyperspherical prototypes (or a baseline).

    Writes a run directory: config.json, metrics.jsonl (one line per epoch), checkpoint.pt
    (every epoch, atomic) and report.json. Under `torchrun --nproc_per_node N` it trains with
    DistributedDataParallel.
    """
    from protogen.semantics import pickle_allowed
    from protogen.train import train
    from protogen.train.user_model import model_import_allowed

    out = out or _default_out(opts["dataset"], opts["task"], opts["loss"], opts["seed"])
    if resume and force:
        raise InputError("--resume and --force contradict each other")
    config = None if resume else _config(opts, click.get_current_context())
    log = None if as_json else click.echo
    # Per-invocation permissions, never saved with the run.
    with pickle_allowed(allow_pickle), model_import_allowed(allow_model_import):
        report = train(config, out, resume=resume, force=force, progress=not quiet, log=log)
    if as_json:
        echo_json(report)


def _config(opts: dict, ctx: click.Context):
    """The TrainConfig of the command line; a --recipe fills what was not given explicitly."""
    from click.core import ParameterSource

    from protogen.train import TrainConfig

    from protogen.distances import check_metric
    from protogen.layers.sphereconv import OPERATORS

    regs = {}
    for key in ("mhe", "orth", "hierarchy", "hier_energy", "energy_metric"):
        if opts[key]:
            regs[key] = opts[key]
    for key in ("hier_metric", "energy_metric"):
        if opts[key]:
            check_metric(opts[key])
    if opts["hierarchy"] or opts["hier_energy"]:
        regs["hier_metric"] = opts["hier_metric"]
    if opts["hierarchy"]:
        regs.update(hier_weight=opts["hier_weight"], hier_scope=opts["hier_scope"])
    for key in ("sphere_op", "head_op"):
        if opts[key] and opts[key] not in OPERATORS[: 4 if key == "sphere_op" else 3]:
            raise InputError(f"unknown --{key.replace('_', '-')} {opts[key]!r} (choose from "
                             f"{', '.join(OPERATORS[: 4 if key == 'sphere_op' else 3])})")
    model_options, head_options = {}, {}
    if opts["margin"] is not None:
        head_options["margin"] = opts["margin"]
    if opts["ncm_mean"]:
        head_options["mean"] = opts["ncm_mean"]
    sphere_model = opts["model"] in _SPHERE_MODELS
    w_head = opts["loss"] in ("w-softmax", "ga-softmax")
    if opts["sphere_op"]:
        # The operator shapes the SphereConv layers and the W-/GA-Softmax head's logits.
        if sphere_model:
            model_options["sphere_op"] = opts["sphere_op"]
        if w_head:
            head_options["operator"] = opts["sphere_op"]
        if not (model_options or "operator" in head_options):
            raise InputError("--sphere-op applies to --model sphere-cnn/sphere-cnn9/cnn9 and "
                             "--loss w-softmax/ga-softmax")
    _layer_options(opts, sphere_model, w_head, model_options, head_options)
    mile = _floats(opts["milestones"], "--milestones")
    config = TrainConfig(
        **{k: opts[k] for k in _DIRECT}, compile=opts["compile_"],
        joint_weights=tuple(_floats(opts["joint_weights"], "--joint-weights", 2)),
        model_options=model_options, head_options=head_options, regularizers=regs,
        milestones=None if mile is None else [int(m) for m in mile],
        sphere_weight_decay=opts["sphere_weight_decay"])
    if opts["recipe"]:
        explicit = {name for name in opts if name != "recipe"
                    and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
        config = config.with_recipe(opts["recipe"], explicit)
    return config


_SPHERE_MODELS = ("sphere-cnn", "sphere-cnn9", "cnn9", "mhe-cnn9")


def _layer_options(opts, sphere_model: bool, w_head: bool, model_options: dict,
                   head_options: dict) -> None:
    """--sphere-k, --head-op, --head-k and --norm into the model's and head's options."""
    if opts["sphere_k"] is not None:
        if not sphere_model:
            raise InputError("--sphere-k applies to --model sphere-cnn/sphere-cnn9/cnn9")
        model_options["k"] = opts["sphere_k"]
    for key, option in (("head_op", "operator"), ("head_k", "k")):
        if opts[key] is not None:
            if not w_head:
                raise InputError(f"--{key.replace('_', '-')} applies to --loss "
                                 "w-softmax/ga-softmax")
            head_options[option] = opts[key]
    norm = opts["norm"]
    if norm:
        if not sphere_model:
            raise InputError("--norm applies to --model sphere-cnn/sphere-cnn9/cnn9")
        model_options["batchnorm"] = norm == "batch" or norm.endswith("+batch")
        model_options["rescale"] = norm.startswith("sphere-rescaled")
        if norm == "batch":
            # Fig. 5's "BatchNorm" column: plain convolutions with BatchNorm.
            if "sphere_op" in model_options:
                raise InputError("--norm batch means plain convolutions; drop --sphere-op (or "
                                 "use --norm sphere+batch)")
            model_options["sphere_op"] = "none"
        else:
            model_options.setdefault("sphere_op", "cosine")   # SphereNorm: cosine SphereConv


@main.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--dataset", help="Evaluate on this data set's test split instead of the run's.")
@click.option("--limit-test", type=click.IntRange(min=1), help="A fixed subset of N test examples.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--allow-model-import", is_flag=True,
              help="The run's model is your own module:callable; import it (runs its code).")
@json_option
@handle_errors
def evaluate_command(run_dir, dataset, limit_test, device, allow_model_import, as_json):
    """Evaluate a trained run on the test split: accuracy, per-class accuracy, confusion matrix,
    MAE. Without --dataset the figures reproduce the run's report.json."""
    from protogen.train import evaluate_run, format_report

    from protogen.train.user_model import model_import_allowed

    with model_import_allowed(allow_model_import):
        report = evaluate_run(run_dir, dataset=dataset, device=device, limit_test=limit_test)
    if as_json:
        echo_json(report)
    else:
        click.echo(format_report(report))


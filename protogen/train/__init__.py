"""The bundled trainer: hyperspherical prototype networks (seed 000, §2–§3) and their baselines.

``losses`` (the formulas), ``heads`` (what sits on top of a network: fixed prototypes, softmax,
NCM, regression, joint), ``models`` (mlp, cnn, resnet32), ``registry`` (the names ``--model``
and ``--loss`` take, including the layers' sphere-cnn and W-/GA-Softmax), ``data`` (built-in and
user data sets, in memory), ``metrics`` (accuracy, confusion, absolute error); a run is
``config`` (TrainConfig, RunInfo) -> ``build`` (prototypes, head, network, regularisers,
optimiser) -> ``loop`` (device, DDP, epochs, evaluation) with ``checkpoint`` (safe save and
resume) and ``report`` (config.json, metrics.jsonl, report.json), tied together by ``trainer``
(:func:`train`, :func:`evaluate_run`). Prototype files are read only through
:func:`protogen.io.load_prototypes`; the trainer never calls a solver.
"""

from protogen.train.checkpoint import load_checkpoint  # noqa: F401
from protogen.train.config import RunInfo, TrainConfig  # noqa: F401
from protogen.train.report import format_report, load_run_config, read_metrics  # noqa: F401
from protogen.train.trainer import evaluate_run, train  # noqa: F401

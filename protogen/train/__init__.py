"""The bundled trainer: hyperspherical prototype networks (seed 000, §2–§3) and their baselines.

``losses`` (the formulas), ``heads`` (what sits on top of a network: fixed prototypes, softmax,
NCM, regression, joint), ``models`` (mlp, cnn, resnet32 and a registry), ``data`` (built-in and
user data sets, in memory), ``metrics`` (accuracy, confusion, MAE) and ``trainer`` (the loop:
device, AMP, DDP, checkpoints, resume, metrics.jsonl). Prototype files are read only through
:func:`protogen.io.load_prototypes`; the trainer never calls a solver.
"""


from protogen.train.trainer import TrainConfig, evaluate_run, train  # noqa: F401

"""protogen: hyperspherical prototypes — solvers, prototype files and a torch trainer.

Pipeline: sphere geometry and energies -> solvers -> prototype file (io) -> trainer / bench -> CLI.

The public API for your own code::

    import protogen
    result = protogen.solve(100, 25)                 # result.prototypes: the (K, D) array
    protogen.save_prototypes("p.h5", result.prototypes, class_names=names)
    protos = protogen.load_prototypes("p.h5").prototypes
    crit = protogen.nn.PrototypeLoss(protos)         # torch: loss = crit(outputs, labels)

Attributes load on first use, so ``import protogen`` (and the CLI's start) stays light.
"""

__version__ = "0.1.0"

from protogen.errors import ProtogenError  # noqa: E402,F401

_LAZY = {
    "solve": ("protogen.solvers", "solve"),
    "load_prototypes": ("protogen.io", "load_prototypes"),
    "save_prototypes": ("protogen.io", "save_prototypes"),
    "save_result": ("protogen.io", "save_result"),
    "Result": ("protogen.result", "Result"),
    "nn": ("protogen.nn", None),
}

__all__ = ["ProtogenError", "__version__", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'protogen' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value

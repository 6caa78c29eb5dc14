"""checkpoint.pt: everything a run needs to continue exactly, in a file that runs no code.

A checkpoint holds only tensors and plain values (numbers, strings, lists, dicts): the network
(with the head's buffers), the optimiser, schedule and gradient-scaler state dicts, every RNG
state (torch, CUDA, numpy's legacy global generator and Python's ``random``, as tensors and
numbers) and the config. It is written atomically after every epoch and read with torch's
restricted unpickler (``weights_only=True``), so a checkpoint from elsewhere that would need
any other object (for example one whose ``__reduce__`` calls a shell) is refused with one line
before anything is run or written.

Checkpoints written before this layout (format 1) pickled numpy's RNG state as an array; those
are read with numpy's array reconstruction admitted as well (it builds arrays, nothing else)
and converted on load, so older runs still evaluate and resume.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from protogen.errors import FileFormatError
from protogen.io import atomic_path
from protogen.train.build import Network, Optimisation
from protogen.train.config import TrainConfig

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = 2          # 1 (unmarked): numpy RNG state as a pickled array; 2: tensors only


_LEGACY_GLOBALS = {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
                   "numpy.ndarray", "numpy.dtype"}


def _legacy_numpy_globals() -> list:
    """What a format-1 checkpoint needs: numpy's array reconstruction (under the numpy 1 and
    numpy 2 module names) and the uint32 dtype of the RNG keys that it sets the state of."""
    core = getattr(np, "_core", None) or np.core
    rebuild = core.multiarray._reconstruct
    return [(rebuild, "numpy.core.multiarray._reconstruct"),
            (rebuild, "numpy._core.multiarray._reconstruct"),
            np.ndarray, np.dtype, type(np.dtype(np.uint32))]


# ------------------------------------------------------------------------------ RNG state
def rng_state() -> dict:
    """Every RNG the run draws from, as tensors and numbers."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
             "python": {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
                        "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), int(n["pos"]),
                         int(n["has_gauss"]), float(n["cached_gaussian"])))
    p = state["python"]
    random.setstate((int(p["version"]), tuple(int(v) for v in p["state"].tolist()),
                     p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _upgrade_rng(rng: dict) -> dict:
    """Format 1 kept numpy's and Python's states as the tuples their get_state returns."""
    out = dict(rng)
    if isinstance(rng.get("numpy"), tuple):
        _, keys, pos, has_gauss, gauss = rng["numpy"]
        out["numpy"] = {"keys": torch.from_numpy(np.asarray(keys).astype(np.int64)),
                        "pos": int(pos), "has_gauss": int(has_gauss),
                        "cached_gaussian": float(gauss)}
    if isinstance(rng.get("python"), tuple):
        version, internal, gauss_next = rng["python"]
        out["python"] = {"version": int(version),
                         "state": torch.tensor(internal, dtype=torch.int64),
                         "gauss_next": gauss_next}
    return out


# ---------------------------------------------------------------------------- save, load
def save_checkpoint(run_dir, epoch: int, net: Network, opt: Optimisation, c: TrainConfig,
                    row: dict) -> None:
    state = {"format": FORMAT, "epoch": epoch, "net": net.state_dict(),
             "optimizer": opt.optimizer.state_dict(), "scheduler": opt.scheduler.state_dict(),
             "scaler": opt.scaler.state_dict(), "rng": rng_state(), "config": c.to_dict(),
             "metrics": row}
    with atomic_path(Path(run_dir) / CHECKPOINT_FILE, force=True) as tmp:
        torch.save(state, tmp)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _load_restricted(path: Path) -> dict:
    """torch's weights-only load; format 1 additionally admits numpy's array reconstruction.
    Any other global is refused by name, read from the pickle's opcodes without running it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    except Exception as exc:  # torch raises many types for a damaged zip
        raise FileFormatError(f"{path} is damaged or truncated ({_first_line(exc)})") from None
    try:
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception as exc:
        raise FileFormatError(f"{path} is damaged or truncated ({_first_line(exc)})") from None
    if not needed or not needed <= _LEGACY_GLOBALS:
        names = ", ".join(sorted(needed)) or "objects outside tensors and plain values"
        raise FileFormatError(f"{path} refers to {names}, which could run code when loaded: "
                              "refused (a protogen checkpoint holds only tensors and plain "
                              "values)")
    try:
        with torch.serialization.safe_globals(_legacy_numpy_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        ckpt["rng"] = _upgrade_rng(ckpt["rng"])
        return ckpt
    except Exception:
        raise FileFormatError(f"{path} was written by an older protogen in a layout this "
                              "version cannot read safely; re-run the training") from None


def _check_layout(ckpt, path: Path) -> None:
    if not isinstance(ckpt, dict) or "net" not in ckpt or "epoch" not in ckpt:
        raise FileFormatError(f"{path} is not a protogen checkpoint")
    net = ckpt["net"]
    if not (isinstance(net, dict) and all(isinstance(v, torch.Tensor) for v in net.values())):
        raise FileFormatError(f"{path} is not a protogen checkpoint (its network state is not "
                              "a dict of tensors)")
    if not isinstance(ckpt["epoch"], int) or ckpt["epoch"] < 0:
        raise FileFormatError(f"{path} is not a protogen checkpoint (epoch {ckpt['epoch']!r})")
    for key in ("optimizer", "scheduler", "scaler", "rng"):
        if not isinstance(ckpt.get(key), dict):
            raise FileFormatError(f"{path} is not a protogen checkpoint (no {key} state)")


def load_checkpoint(run_dir) -> dict:
    """The run's checkpoint, read without running any code from the file."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileFormatError(f"{path}: no checkpoint (was this run directory written by "
                              "protogen train?)")
    ckpt = _load_restricted(path)
    _check_layout(ckpt, path)
    return ckpt


# -------------------------------------------------------------------------------- restore
def restore_network(ckpt: dict, net: Network, run_dir) -> None:
    try:
        net.load_state_dict(ckpt["net"])
    except RuntimeError as exc:
        raise FileFormatError(f"{Path(run_dir) / CHECKPOINT_FILE} does not fit the run's "
                              f"network ({_first_line(exc)})") from None


def restore_training(ckpt: dict, opt: Optimisation, run_dir) -> int:
    """Optimiser, schedule, scaler and RNG states as they were after the saved epoch; returns
    the number of epochs done."""
    try:
        opt.optimizer.load_state_dict(ckpt["optimizer"])
        opt.scheduler.load_state_dict(ckpt["scheduler"])
        opt.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise FileFormatError(f"{Path(run_dir) / CHECKPOINT_FILE} does not fit the run's "
                              f"training state ({_first_line(exc)})") from None
    return int(ckpt["epoch"])

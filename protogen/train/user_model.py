"""``--model module:callable``: a user's own backbone.

The callable is any ``nn.Module`` factory; it is called as ``factory(out_dim)`` (the prototype
dimension) or, if it accepts them, ``factory(out_dim, input_shape=(C, H, W))``. Importing the
module runs its code: that is the point of naming it, so protogen only ever imports modules the
user names on the command line, never ones named inside a file it reads.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import sys
from pathlib import Path

import torch
import torch.nn as nn

from protogen.errors import InputError


_IMPORT_ALLOWED = contextvars.ContextVar("protogen_model_import_allowed", default=False)


def is_user_model(spec: str) -> bool:
    return ":" in str(spec)


@contextlib.contextmanager
def model_import_allowed(allow: bool = True):
    """Let a run directory's saved ``module:callable`` model be imported within this block
    (``--allow-model-import``): a run someone hands you must not import code by itself."""
    token = _IMPORT_ALLOWED.set(bool(allow))
    try:
        yield
    finally:
        _IMPORT_ALLOWED.reset(token)


def check_saved_model(spec: str, run_dir) -> None:
    """Refuse to rebuild a saved run whose network is a user's module unless allowed."""
    if is_user_model(spec) and not _IMPORT_ALLOWED.get():
        raise InputError(f"{run_dir} was trained with your own model {spec!r}; rebuilding it "
                         "imports and runs that module: pass --allow-model-import if you trust it")


def load_user_model(spec: str, input_shape, out_dim: int) -> nn.Module:
    """Import ``module:callable``, build the backbone and check its output size on a dummy
    batch of two examples. Every failure is one line of :class:`InputError`."""
    module_name, _, attr = str(spec).partition(":")
    if not module_name or not attr:
        raise InputError(f"--model {spec!r}: expected module:callable (e.g. mynets:resnet18)")
    # The working directory is where users keep a quick model file.
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure while importing the user's code
        raise InputError(f"--model {spec!r}: cannot import {module_name!r} "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                         ) from None
    finally:
        if added:
            sys.path.remove(cwd)
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InputError(f"--model {spec!r}: {module_name!r} has no {attr!r}")
    if not callable(factory):
        raise InputError(f"--model {spec!r}: {attr!r} is not callable")
    try:
        params = inspect.signature(factory).parameters
        kwargs = {"input_shape": tuple(input_shape)} if "input_shape" in params else {}
    except (TypeError, ValueError):
        kwargs = {}
    try:
        model = factory(int(out_dim), **kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's factory failed
        raise InputError(f"--model {spec!r}: calling it with out_dim={out_dim} failed "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"--model {spec!r} returned {type(model).__name__}, not a torch "
                         "nn.Module")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros((2, *tuple(input_shape))))
    except Exception as exc:  # noqa: BLE001 - shape mismatch inside the user's network
        raise InputError(f"--model {spec!r} fails on inputs of shape {tuple(input_shape)} "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, int(out_dim)):
        got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"--model {spec!r} outputs {got} per example, the head needs "
                         f"{out_dim} (the prototype dimension)")
    return model

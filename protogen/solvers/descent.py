"""Plain gradient descents on a fixed objective (torch), beside the annealed Tammes solver:

- :func:`hpn_sgd` (``--method hpn-sgd``): SGD on the mean over prototypes of the largest cosine
  to another prototype (seed 000's prototype objective as the official code runs it), rows
  re-normalised after every step; ``official=True`` is the official script exactly.
- :func:`energy_descent` (``--method energy``): Adam on the Riesz s-energy (s = 0 logarithmic),
  optionally half-space or angular (seed 002).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from protogen.energies import max_cosine, riesz_energy
from protogen.errors import InputError
from protogen.result import Result
from protogen.solvers.gradient import (_SGD, _Adam, _check, _code_work, _deadline, _device,
                                       _dtype, _start, _threaded)
from protogen.sphere import normalize as np_normalize


@_threaded(_code_work)
def hpn_sgd(num_classes: int, dim: int, *, seed: int = 0, epochs: int | None = None,
            lr: float = 0.1, momentum: float = 0.9, official: bool = False,
            time_limit: float | None = None, init: np.ndarray | None = None, extra_loss=None,
            device: str = "cpu", dtype=None, progress: bool = True) -> Result:
    """HPN's prototype optimisation (seed 000 §2.1, ``prototypes.py`` of the official code):
    minimise mean_i max_{j≠i} cos(p_i, p_j) by SGD, projecting the rows back onto the sphere
    after each step.

    Default (ours): 1000 epochs, momentum kept across steps, float64, and the best iterate by
    exact max cosine is returned. ``official=True`` reproduces the official script exactly:
    ``torch.randn`` start under ``torch.manual_seed(seed)``, float32, 10,000 epochs, and a new
    ``SGD(lr, momentum)`` built every epoch, so its momentum buffer never outlives one step
    (each step is plain ``p -= lr * grad``), and the *last* iterate is returned.
    """
    epochs = epochs if epochs is not None else (10_000 if official else 1000)
    dtype = dtype if dtype is not None else ("float32" if official else "float64")
    _check(num_classes, dim, epochs=epochs, lr=lr, time_limit=time_limit)
    if not 0 <= momentum < 1:
        raise InputError(f"momentum must be in [0, 1), got {momentum}")
    dev, dt = _device(device), _dtype(dtype)
    deadline = _deadline(time_limit)
    torch.manual_seed(seed)
    if official and init is None:
        start = torch.nn.functional.normalize(torch.randn(num_classes, dim), p=2, dim=1)
        p = start.to(dtype=dt, device=dev).requires_grad_(True)
    else:
        p = torch.tensor(_start(num_classes, dim, seed, init), dtype=dt, device=dev,
                         requires_grad=True)
    opt = _SGD(p, lr, momentum)
    eye = torch.eye(num_classes, dtype=dt, device=dev)
    best, best_x, history = math.inf, p.detach().cpu().numpy(), []
    for _ in tqdm(range(epochs), desc="hpn-sgd", disable=not progress, leave=False):
        if official:
            opt = _SGD(p, lr, momentum)  # the official script's fresh optimiser every epoch
        cos = p @ p.T - 2 * eye  # the official code's trick to exclude the diagonal
        loss = cos.max(dim=1).values.mean()
        if extra_loss is not None:
            loss = loss + extra_loss(p)
        loss.backward()
        opt.step()
        with torch.no_grad():
            p.copy_(torch.nn.functional.normalize(p, dim=1))
            current = float(max_cosine(p, normalize=False))
        history.append(current)
        if official or current < best or extra_loss is not None:
            best, best_x = current, p.detach().cpu().numpy().astype(np.float64)
        if time.perf_counter() > deadline:
            break
    params = dict(epochs=epochs, lr=lr, momentum=momentum, official=official, device=str(dev),
                  dtype=str(dt).replace("torch.", ""), init=init is not None,
                  time_limit=time_limit)
    return Result(np_normalize(best_x), method="hpn-sgd", seed=seed, params=params,
                  history=history)


@_threaded(_code_work)
def energy_descent(num_classes: int, dim: int, *, s: float = 1.0, half_space: bool = False,
                   angular: bool = False, seed: int = 0, iterations: int = 2000,
                   lr: float = 0.01, tol: float = 1e-12, time_limit: float | None = None,
                   init: np.ndarray | None = None, extra_loss=None, device: str = "cpu",
                   dtype="float64", chunk_size: int | None = None,
                   progress: bool = True) -> Result:
    """Minimise the Riesz s-energy (MHE Eq. 1; s = 0 logarithmic) with Adam on the sphere.

    Stops after ``iterations``, at ``time_limit``, or when the relative energy change over 50
    steps is below ``tol``. The energy is the mean over pairs so that ``lr`` does not depend on K.
    """
    _check(num_classes, dim, iterations=iterations, lr=lr, time_limit=time_limit)
    if s < 0:
        raise InputError(f"the Riesz exponent s must be >= 0, got {s}")
    dev, dt = _device(device), _dtype(dtype)
    deadline = _deadline(time_limit)
    torch.manual_seed(seed)
    x = torch.tensor(_start(num_classes, dim, seed, init), dtype=dt, device=dev,
                     requires_grad=True)
    opt = _Adam(x, lr)
    history, last = [], None
    for step in tqdm(range(iterations), desc=f"energy s={s:g}", disable=not progress,
                     leave=False):
        u = torch.nn.functional.normalize(x, dim=1)
        energy = riesz_energy(u, s, half_space=half_space, angular=angular, reduction="mean",
                              chunk_size=chunk_size, normalize=False)
        loss = energy if extra_loss is None else energy + extra_loss(u)
        loss.backward()
        opt.step()
        value = float(energy.detach())
        history.append(value)
        if step % 50 == 49:
            if last is not None and abs(last - value) <= tol * max(1.0, abs(value)):
                break
            last = value
        if time.perf_counter() > deadline:
            break
    with torch.no_grad():
        out = torch.nn.functional.normalize(x, dim=1).cpu().numpy().astype(np.float64)
    params = dict(s=s, half_space=half_space, angular=angular, iterations=iterations, lr=lr,
                  tol=tol, device=str(dev), dtype=str(dt).replace("torch.", ""),
                  chunk_size=chunk_size, init=init is not None, time_limit=time_limit)
    return Result(np_normalize(out), method="energy", seed=seed, params=params, history=history)

"""Gradient solvers in torch: annealed Tammes and its exact max-min polish.

All work on an unconstrained (K, D) parameter whose rows are normalised in the forward pass (or
projected back after each step, for ``hpn-sgd`` as in the official HPN code), in float64 on the
CPU by default and on any torch device. The objectives come from :mod:`protogen.energies`.

- :func:`tammes` (``--method gradient``): maximise the minimum angle. Adam on the log-sum-exp
  smooth maximum of the pairwise cosines (the s -> infinity end of the MHE family, seed 002 §3.7)
  with a temperature that grows geometrically while the step shrinks; several restarts run as
  one batched tensor and the best is kept; then :func:`polish`.
- :func:`polish`: exact max-min refinement: a much sharper smooth max (temperature up to 1e5),
  every iterate scored by the exact max cosine, the best kept, so it never returns something
  worse than its input.

The plain descents ``hpn-sgd`` and ``energy`` live in :mod:`protogen.solvers.descent` and share
this module's optimisers and helpers.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from protogen.energies import (dense_smooth_max, masked_pair_cosines, max_cosine, pair_mask,
                               smooth_max_cosine)
from protogen.errors import InputError
from protogen.result import Result
from protogen.sphere import normalize as np_normalize
from protogen.sphere import max_cosine as np_max_cosine
from protogen.sphere import random_points
from protogen.solvers.symmetric_starts import antipodal_start

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _check(num, dim, **positive):
    for name, value in positive.items():
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise InputError(f"{name} must be positive, got {value!r}")


def _device(device) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown torch device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but CUDA is not available")
    return dev


def _dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise InputError(f"dtype must be float64 or float32, got {dtype!r}")
    return _DTYPES[dtype]


def _start(num, dim, seed, init, noise=0.0) -> np.ndarray:
    """Starting code: ``init`` (plus seeded noise) or uniform random points."""
    if init is None:
        return random_points(num, dim, seed)
    if noise == 0:
        return np_normalize(init)
    rng = np.random.default_rng(seed)
    return np_normalize(np.asarray(init) + noise * rng.standard_normal(init.shape))


def _deadline(time_limit):
    return math.inf if time_limit is None else time.perf_counter() + time_limit


class _Adam:
    """Adam (Kingma & Ba) on one tensor, written out because ``torch.optim`` imports
    ``torch._dynamo`` on first use, which costs seconds of the CLI's start-up."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self):
        b1, b2 = self.betas
        grad = self.param.grad
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v / (1 - b2**self.t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1**self.t))
        self.param.grad = None


class _SGD:
    """SGD with momentum as ``torch.optim.SGD`` does it (buf = mu * buf + g; p -= lr * buf)."""

    def __init__(self, param: torch.Tensor, lr: float, momentum: float):
        self.param, self.lr, self.momentum = param, lr, momentum
        self.buf = None

    @torch.no_grad()
    def step(self):
        grad = self.param.grad
        self.buf = grad.clone() if self.buf is None else self.buf.mul_(self.momentum).add_(grad)
        self.param.add_(self.buf, alpha=-self.lr)
        self.param.grad = None


# --- Tammes: annealed smooth maximum ------------------------------------------------------------

# Restarts run together as one (R, K, D) batch while R dense K x K cosine blocks stay this small;
# bigger codes run one restart at a time through the chunked energies.
_BATCH_ELEMENTS = 2**22


def _auto_iterations(num, dim):
    """Default schedule length: 800 steps for tiny codes (K D <= 500), 2000 otherwise, fewer
    when one step costs more than ~6.4e7 multiply-adds (K^2 D), down to 50 steps, so that
    K = 10,000, D = 128 stays within minutes on a CPU."""
    base = 800 if num * dim <= 500 else 2000
    return int(min(base, max(50, base * 6.4e7 / (float(num) * num * dim))))


def _auto_restarts(num, dim):
    """16 restarts (run as one batch) for tiny codes (K^2 D <= 2e5, e.g. D = 3 up to K = 258),
    where a batch costs little more than one run and small Tammes codes have many local optima;
    4 for small codes, 1 when a step costs over 2e7."""
    work = float(num) * num * dim
    return 16 if work <= 2e5 else 4 if work <= 2e6 else 2 if work <= 2e7 else 1


class _threads_for:
    """Run small problems on one intra-op thread: for K^2 D below ~1e7 per step (``limit``)
    the thread hand-offs cost more than they save (10-20x slower on a busy 2-core machine).
    Only the CPU is affected: on a ``device`` of another type nothing changes."""

    def __init__(self, work: float, limit: float = 1e7, device: torch.device | None = None):
        self.small = work < limit and (device is None or device.type == "cpu")

    def __enter__(self):
        self.saved = torch.get_num_threads()
        if self.small:
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def _threaded(work):
    """Decorator: run the solver under :class:`_threads_for` with ``work(*args, **kwargs)``."""
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _threads_for(work(*args, **kwargs)):
                return fn(*args, **kwargs)
        return wrapper
    return decorate


def _code_work(num_classes, dim, *args, **kwargs):
    return 8.0 * num_classes * num_classes * dim


def _anneal(starts: np.ndarray, *, iterations, lr, lr_end, t_start, t_end, extra_loss, device,
            dtype, chunk_size, deadline, bar):
    """Adam on the log-sum-exp smooth maximum of the pairwise cosines of R codes at once.

    The temperature grows and the step shrinks geometrically over ``iterations``. Returns the
    final codes (R, K, D) and their exact max cosines.
    """
    num_restarts, num, _ = starts.shape
    x = torch.tensor(starts, dtype=dtype, device=device, requires_grad=True)
    opt = _Adam(x, lr)
    dense = num_restarts * num * num <= _BATCH_ELEMENTS and chunk_size is None
    mask = pair_mask(num, dtype, device) if dense else None
    steps = max(1, iterations - 1)
    for step in range(iterations):
        frac = step / steps
        temperature = t_start * (t_end / t_start) ** frac
        opt.lr = lr * (lr_end / lr) ** frac
        u = torch.nn.functional.normalize(x, dim=2)
        if dense:
            loss = dense_smooth_max(masked_pair_cosines(u, mask), temperature).sum()
        else:
            loss = sum(smooth_max_cosine(u[r], temperature, chunk_size, normalize=False)
                       for r in range(num_restarts))
        if extra_loss is not None:
            loss = loss + sum(extra_loss(u[r]) for r in range(num_restarts))
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
        if time.perf_counter() > deadline:
            break
    with torch.no_grad():
        u = torch.nn.functional.normalize(x, dim=2)
        values = [float(max_cosine(u[r], chunk_size, normalize=False))
                  for r in range(num_restarts)]
    return u.detach().cpu().numpy().astype(np.float64), values


def _sharp_descent(x0: torch.Tensor, *, iterations, lr, lr_end, t_start, t_end, extra_loss,
                   chunk_size, deadline, tol=0.0):
    """Adam on a sharpening smooth max of one code, returning the best iterate by the EXACT
    objective (max cosine, plus ``extra_loss`` when given) and its value. Stops early when 100
    steps improved the best by no more than ``tol``."""
    num = x0.shape[0]
    x = x0.clone().requires_grad_(True)
    opt = _Adam(x, lr)
    dense = chunk_size is None and num * num <= _BATCH_ELEMENTS
    mask = pair_mask(num, x0.dtype, x0.device) if dense else None
    best, best_u = math.inf, x0
    steps = max(1, iterations - 1)
    for step in range(iterations + 1):
        u = torch.nn.functional.normalize(x, dim=1)
        extra = extra_loss(u) if extra_loss is not None else None
        if dense:
            cos = masked_pair_cosines(u, mask)
            exact = cos.detach().max()
        else:
            exact = max_cosine(u.detach(), chunk_size, normalize=False)
        value = float(exact) + (float(extra.detach()) if extra is not None else 0.0)
        if value < best:
            best, best_u = value, u.detach().clone()
        if step == iterations or time.perf_counter() > deadline:
            break
        if step % 100 == 0:
            if step > 0 and checkpoint_value - best <= tol:
                break
            checkpoint_value = best
        frac = step / steps
        temperature = t_start * (t_end / t_start) ** frac
        opt.lr = lr * (lr_end / lr) ** frac
        if dense:
            loss = dense_smooth_max(cos, temperature)
        else:
            loss = smooth_max_cosine(u, temperature, chunk_size, normalize=False)
        if extra is not None:
            loss = loss + extra
        loss.backward()
        opt.step()
    return best_u, best


@_threaded(lambda prototypes, *a, **k: float(np.shape(prototypes)[0]) ** 2
           * np.shape(prototypes)[1])
def polish(prototypes: np.ndarray, *, iterations: int = 500, time_limit: float | None = None,
           extra_loss=None, tol: float = 1e-12, lr: float = 2e-4, lr_end: float = 1e-6,
           t_start: float = 3e3, t_end: float = 1e5, chunk_size: int | None = None, device="cpu") -> np.ndarray:
    """Exact max-min polish of a code (float64); never returns something worse than its input.

    A very sharp smooth maximum (log-sum-exp of the pairwise cosines with a temperature growing
    from ``t_start`` to ``t_end``, i.e. within log(#pairs)/t of the true max) is minimised by Adam
    with a step shrinking from ``lr`` to ``lr_end``; every iterate is scored by the *exact* max
    cosine and the best one, the input included, is returned. Stops after ``iterations`` steps,
    at ``time_limit`` seconds, or when 100 steps gained no more than ``tol`` in max cosine.
    With ``extra_loss`` the score is max cosine + extra_loss, so the polish keeps the semantic
    compromise instead of undoing it.
    """
    if not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise InputError(f"polish iterations must be a non-negative integer, got {iterations!r}")
    x = np_normalize(prototypes)
    if iterations == 0 or x.shape[0] < 2:
        return x
    dev = _device(device)
    start = torch.tensor(x, dtype=torch.float64, device=dev)
    best_u, _ = _sharp_descent(start, iterations=iterations, lr=lr, lr_end=lr_end,
                               t_start=t_start, t_end=t_end, extra_loss=extra_loss,
                               chunk_size=chunk_size, deadline=_deadline(time_limit), tol=tol)
    return np_normalize(best_u.cpu().numpy())


def _antipodal_round(rounds_done, num, init, extra_loss):
    """Whether the next anytime round starts from antipodal codes: every other round (the 2nd,
    4th, ...) for even K without ``init`` or ``extra_loss`` (an extra term such as the semantic
    one need not favour a symmetric code). Adam keeps such a code nearly antipodal, so these
    rounds search the antipodal codes, where antipodal records are common: at D = 5, K = 40,
    3 of 32 antipodal starts anneal to the 40 roots of D5 (60 deg), 0 of 32 random ones (best
    59.46 deg); at D = 4, K = 24, 21 of 32 end within 0.0005 deg of the 24-cell, 0 of 32
    random ones. Odd rounds stay random, for codes without that symmetry (K = 100, D = 25: best
    of 8 antipodal starts 83.38 deg, of 8 random ones 83.49 deg)."""
    return rounds_done % 2 == 1 and num % 2 == 0 and init is None and extra_loss is None


def _random_starts(rng, count, num, dim, init, init_noise, *, keep_init):
    """``count`` unit (K, D) codes: uniform random, or the unit ``init`` plus ``init_noise``
    Gaussian noise (the first exactly ``init`` when ``keep_init``)."""
    draws = rng.standard_normal((count, num, dim))
    if init is not None:
        draws = init_noise * draws
        if keep_init:
            draws[0] = 0.0
        draws = init[None] + draws
    return draws / np.linalg.norm(draws, axis=2, keepdims=True)


@_threaded(_code_work)
def tammes(num_classes: int, dim: int, *, seed: int = 0, iterations: int | None = None,
           restarts: int | None = None, lr: float = 0.02, lr_end: float = 5e-4,
           t_start: float = 30.0, t_end: float = 3e3, tol: float = 1e-12,
           polish_iterations: int | None = None, time_limit: float | None = None,
           init: np.ndarray | None = None, init_noise: float = 0.02, extra_loss=None,
           device: str = "cpu", dtype=torch.float64, chunk_size: int | None = None,
           anytime: bool = False, progress: bool = True) -> Result:
    """Maximise the minimum pairwise angle (the Tammes problem, MHE's s -> infinity).

    ``restarts`` codes are annealed together (one batched tensor): Adam on the log-sum-exp smooth
    max of the pairwise cosines, temperature ``t_start`` -> ``t_end`` and step ``lr`` -> ``lr_end``
    geometrically over ``iterations`` steps. The best code by exact max cosine is then refined by
    :func:`polish`. Defaults (``None``) scale with the work per step K^2 D: 800-2000 steps,
    16 restarts for tiny codes (K^2 D <= 2e5), 4 and 500 polish steps for small codes, down to
    50 steps, one restart and 25 polish steps for K = 10,000, D = 128 (tuned: K=100, D=25
    reaches 83.48-83.52 deg on seeds 0-2).
    Restart r starts from uniform random points drawn from ``seed``, or from ``init`` plus
    ``init_noise`` Gaussian noise (restart 0 from ``init`` itself). ``time_limit`` bounds the
    whole call (annealing stops early, the polish gets what is left); ``tol`` is the polish's
    stopping tolerance (max-cosine gain per 100 steps).

    ``anytime`` (with ``time_limit``; the CLI's ``gradient`` method sets it): after the first
    ``restarts`` codes, further rounds of ``restarts`` fresh starts (drawn from the same
    generator, so the first round is the untimed run's) are annealed while the time left exceeds
    one more round plus the polish, and the best code of all rounds is polished. Random starts
    reach rare basins this way: in D = 4, 2 of 30 single starts of K = 24 end in the 24-cell
    (60 deg), the rest at 58.87 deg. For even K (no ``init``, no ``extra_loss``) every other
    round starts from antipodal codes instead (:func:`_antipodal_round`), where antipodal
    records such as the 24-cell and D5's 40 roots are found far more often.
    """
    if iterations is None:
        iterations = _auto_iterations(num_classes, dim)
    if restarts is None:
        restarts = _auto_restarts(num_classes, dim)
    if polish_iterations is None:
        polish_iterations = min(500, iterations // 2)
    _check(num_classes, dim, iterations=iterations, restarts=restarts, lr=lr, lr_end=lr_end,
           t_start=t_start, t_end=t_end, time_limit=time_limit)
    if not isinstance(polish_iterations, (int, np.integer)) or polish_iterations < 0:
        raise InputError(f"polish_iterations must be >= 0, got {polish_iterations!r}")
    dev, dt = _device(device), _dtype(dtype)
    deadline = _deadline(time_limit)
    rng = np.random.default_rng(seed)
    if init is not None:
        init = np_normalize(init)
    starts = _random_starts(rng, restarts, num_classes, dim, init, init_noise, keep_init=True)

    history: list[float] = []
    best_x, best, completed, rounds = None, math.inf, 0, 0
    batch = max(1, min(restarts, _BATCH_ELEMENTS // (num_classes * num_classes)))
    anytime = anytime and time_limit is not None
    bar = tqdm(total=None if anytime else iterations * math.ceil(restarts / batch),
               desc=f"tammes K={num_classes} D={dim}", disable=not progress, leave=False)
    out_of_time = False
    while not out_of_time:
        round_start = time.perf_counter()
        for first in range(0, restarts, batch):
            codes, values = _anneal(starts[first:first + batch], iterations=iterations, lr=lr,
                                    lr_end=lr_end, t_start=t_start, t_end=t_end,
                                    extra_loss=extra_loss, device=dev, dtype=dt,
                                    chunk_size=chunk_size, deadline=deadline, bar=bar)
            history.extend(values)
            for code, value in zip(codes, values):
                if value < best:
                    best_x, best = code, value
            if time.perf_counter() > deadline:
                out_of_time = True
                break
            completed += len(codes)
        rounds += 1
        if out_of_time or not anytime:
            break
        # Another round only if it and the polish (estimated as its share of a round) still fit.
        round_time = time.perf_counter() - round_start
        if deadline - time.perf_counter() < round_time * (1.0 + polish_iterations / iterations):
            break
        bar.set_postfix(best_deg=f"{math.degrees(math.acos(min(1.0, best))):.4f}")
        if _antipodal_round(rounds, num_classes, init, extra_loss):
            starts = np.stack([antipodal_start(num_classes, dim, rng) for _ in range(restarts)])
        else:
            starts = _random_starts(rng, restarts, num_classes, dim, init, init_noise,
                                    keep_init=False)
    bar.close()
    remaining = None if time_limit is None else max(0.0, deadline - time.perf_counter())
    polished = polish(best_x, iterations=polish_iterations if remaining != 0 else 0,
                      time_limit=remaining, extra_loss=extra_loss, tol=tol,
                      chunk_size=chunk_size, device=dev)
    history.append(np_max_cosine(polished, chunk_size))
    params = dict(iterations=iterations, restarts=restarts, lr=lr, lr_end=lr_end,
                  t_start=t_start, t_end=t_end, tol=tol, polish_iterations=polish_iterations,
                  init_noise=init_noise, device=str(dev), dtype=str(dt).replace("torch.", ""),
                  chunk_size=chunk_size, init=init is not None, time_limit=time_limit,
                  anytime=anytime)
    # With a limit shorter than one annealing run, the code is the best partially annealed start.
    meta = {} if time_limit is None else {"restarts_completed": completed}
    if anytime:
        meta["rounds"] = rounds
    return Result(polished, method="gradient", seed=seed, params=params, history=history,
                  metadata=meta)

"""Baselines for the large-K comparison (issue 13, item 4).

- :func:`random_unit_vectors`: K normalised Gaussian vectors (uniform on the sphere); for
  D >= 64 they are already nearly orthogonal, which is why large-K papers use them as prototypes.
- :func:`pushed_apart_vectors`: the "equiangular basis vectors" style baseline of large-K papers:
  random vectors pushed apart briefly, i.e. a few low-temperature steps of the same neighbour-list
  repulsion as :func:`protogen.solvers.neighbours.neighbour_tammes`, with no annealing to a sharp
  max and no polish.

Both report the exact minimum angle over all pairs (chunked, float64) in ``metadata`` so they sit
in the same table as the solvers.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from protogen.errors import InputError
from protogen.result import Result
from protogen.solvers.neighbours import (_Best, _descend, block_rows, check_memory,
                                         resolve_device)
from protogen.sphere import angle_deg, max_cosine, random_points


def _metadata(prototypes, chunk_size):
    exact = max_cosine(prototypes, chunk_size)
    return dict(max_cosine=exact, min_angle_deg=float(angle_deg(exact)))


def random_unit_vectors(num_classes: int, dim: int, *, seed: int = 0,
                        chunk_size: int | None = None) -> Result:
    """``num_classes`` uniform random unit vectors in ``dim`` dimensions (from ``seed``)."""
    if num_classes < 2 or dim < 2:
        raise InputError(f"need K >= 2 points in D >= 2 dimensions, got K={num_classes}, D={dim}")
    started = time.perf_counter()
    prototypes = random_points(num_classes, dim, seed)
    return Result(prototypes, method="random", seed=seed, params=dict(chunk_size=chunk_size),
                  elapsed_s=time.perf_counter() - started,
                  metadata=_metadata(prototypes, chunk_size))


def pushed_apart_vectors(num_classes: int, dim: int, *, seed: int = 0, steps: int = 30,
                         k: int = 32, temperature: float = 30.0, lr: float = 0.01,
                         device="auto", chunk_size: int | None = None) -> Result:
    """Random unit vectors (as :func:`random_unit_vectors` with the same seed) pushed apart by
    ``steps`` Adam steps of the neighbour-list smooth max at a fixed low ``temperature`` (a soft
    repulsion of each point's ``k`` nearest neighbours), the neighbour graph rebuilt every 10
    steps. The last iterate is returned, as a brief push would."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"steps must be a positive integer, got {steps!r}")
    if num_classes < 2 or dim < 2:
        raise InputError(f"need K >= 2 points in D >= 2 dimensions, got K={num_classes}, D={dim}")
    started = time.perf_counter()
    dev = resolve_device(device)
    k = int(min(k, num_classes - 1))
    block_rows(num_classes, chunk_size)
    check_memory(num_classes, dim, k, chunk_size, dev)
    start = torch.tensor(random_points(num_classes, dim, seed), dtype=torch.float32, device=dev)
    last = _descend(start, steps=steps, lr=lr, lr_end=lr, t_start=temperature, t_end=temperature,
                    k=k, refresh=10, chunk_size=chunk_size, extra_loss=None, deadline=math.inf,
                    best=_Best(), bar=None, history=[])
    prototypes = torch.nn.functional.normalize(last.double(), dim=1).cpu().numpy()
    params = dict(steps=steps, k=k, temperature=temperature, lr=lr, device=str(dev),
                  chunk_size=chunk_size)
    return Result(prototypes, method="pushed-apart", seed=seed, params=params,
                  elapsed_s=time.perf_counter() - started,
                  metadata=_metadata(prototypes, chunk_size))

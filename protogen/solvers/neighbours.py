"""Neighbour-list annealed Tammes solver for large K (issue 13, items 1 and 2).

The dense annealed solver (:func:`protogen.solvers.gradient.tammes`) minimises the log-sum-exp
smooth maximum of all K(K-1)/2 pairwise cosines (the s -> infinity end of the MHE family, seed 002
§3.7). At a high temperature t almost all of its weight sits on each point's nearest neighbours,
so here every step evaluates the same smooth maximum

    L_t = (1/t) log sum_{(i,j) in P} exp(t cos_ij)

only over the pairs P of a neighbour graph: the union of each point's k nearest neighbours
(k a few dozen). The graph is refreshed every ``refresh`` steps by an exact blockwise top-k
(chunked matrix products, O(K * chunk) memory), which also gives the exact maximum cosine over all
pairs of that iterate for free (each row's first neighbour), so the best iterate is kept by its
exact score. The pair set is stored once per refresh as a symmetric sparse CSR matrix; a step then
costs one sampled matrix product (the cosines of P) and one sparse-dense product (the gradient),
O(K k D) work and no host round trip. Bulk steps run in float32, the final sharp polish in
float64, and the reported angle is the exact one over all pairs (chunked, float64).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from protogen.errors import InputError, ResourceError
from protogen.result import Result
from protogen.solvers.gradient import _threads_for
from protogen.sphere import angle_deg
from protogen.sphere import normalize as np_normalize

# One block of the refresh's cosine matrix (rows x K) is kept under this many elements.
_BLOCK_ELEMENTS = 2**24
# Fraction of physical memory a solve may plan to use.
_MEMORY_FRACTION = 0.8
# Below this many multiply-adds per call, CPU ops run on one intra-op thread: thread hand-offs
# cost more than they save (12x slower measured on a busy 2-core machine at K=1000, D=64).
_THREADED_WORK = 1e9


def _cpu_threads(work: float, device: torch.device):
    """One CPU thread for blocks below ``_THREADED_WORK`` (no effect on CUDA)."""
    return _threads_for(work, _THREADED_WORK, device)


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without CUDA is an InputError."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r} (choose cpu, cuda or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"unsupported device {device!r} (choose cpu, cuda or auto)")
    return dev


def block_rows(num: int, chunk_size: int | None) -> int:
    """Rows per block of the all-pairs passes: ``chunk_size`` or ~2^24 cosines per block."""
    if chunk_size is None:
        return max(1, min(num, _BLOCK_ELEMENTS // max(num, 1)))
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(min(chunk_size, num))


def default_k(num: int, dim: int) -> int:
    """Neighbours per point when not given: 64 for small codes, 32 otherwise."""
    return 64 if _small(num, dim) else 32


def estimate_memory_bytes(num: int, dim: int, k: int, chunk: int | None = None) -> int:
    """Peak memory of :func:`neighbour_tammes`, O(K (D + k)) plus one block of the refresh.

    Per point: the float64 polish holds the iterate, its gradient, two Adam moments, the best
    copy and temporaries (~8 rows of D float64) plus a float32 copy for the refresh; the result is
    handed back as float64 numpy (two more rows). The neighbour graph holds up to 2k symmetric
    entries per point: int64 column indices, the sort keys that deduplicate them (int64, three
    buffers while sorting) and ~4 value buffers (cosines, weights, temporaries) in float64, plus
    the k top-k indices and values. One refresh block is ``chunk`` x K float32 cosines plus what
    top-k allocates for it.
    """
    rows = block_rows(num, chunk)
    per_point = 8 * dim * 10 + 4 * dim + 2 * k * (8 + 3 * 8 + 4 * 8) + k * (8 + 4)
    return int(num * per_point + 3 * 4 * rows * num)


def available_memory_bytes(device: torch.device) -> int:
    """Memory a solve may use on ``device``: the GPU's total memory, or the machine's RAM."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    from protogen.memory import available_memory_bytes as machine_memory

    return machine_memory()


def check_memory(num, dim, k, chunk, device, available: int | None = None) -> int:
    """Refuse (ResourceError, before allocating) a size whose estimate exceeds the memory."""
    need = estimate_memory_bytes(num, dim, k, chunk)
    have = available_memory_bytes(device) if available is None else int(available)
    if need > _MEMORY_FRACTION * have:
        raise ResourceError(
            f"{num} points in {dim} dimensions with k={k} neighbours need about "
            f"{need / 2**30:.1f} GiB, more than the {_MEMORY_FRACTION * have / 2**30:.1f} GiB "
            f"usable on this {device.type} ({have / 2**30:.1f} GiB)")
    return need


# --- the exact neighbour graph -------------------------------------------------------------------

@torch.no_grad()
def blockwise_topk(u: torch.Tensor, k: int, chunk_size: int | None = None):
    """Each row's ``k`` largest cosines to the *other* rows and their indices (exact).

    Rows are processed in blocks: one (block x K) cosine matrix at a time, its diagonal set to
    -inf, then ``torch.topk`` along each row, so memory is O(K * block). Returns
    (values (K, k), indices (K, k) int64), sorted by decreasing cosine.
    """
    num = u.shape[0]
    if not 1 <= k < num:
        raise InputError(f"k must be between 1 and K-1 = {num - 1}, got {k}")
    step = block_rows(num, chunk_size)
    values = torch.empty(num, k, dtype=u.dtype, device=u.device)
    indices = torch.empty(num, k, dtype=torch.int64, device=u.device)
    for start in range(0, num, step):
        stop = min(num, start + step)
        cos = u[start:stop] @ u.T
        local = torch.arange(stop - start, device=u.device)
        cos[local, local + start] = -math.inf
        top = torch.topk(cos, k, dim=1, largest=True, sorted=True)
        values[start:stop], indices[start:stop] = top.values, top.indices
    return values, indices


@torch.no_grad()
def pair_graph(indices: torch.Tensor):
    """Symmetric CSR structure (crow, col) of the pairs {i, j} with j among i's neighbours.

    Each unordered pair appears exactly twice, as (i, j) and (j, i), however many of the two
    points list each other; the columns of every row are sorted (deterministic on every device).
    """
    num, k = indices.shape
    rows = torch.arange(num, device=indices.device).repeat_interleave(k)
    cols = indices.reshape(-1)
    keys = torch.unique(torch.cat([rows * num + cols, cols * num + rows]), sorted=True)
    row_of = torch.div(keys, num, rounding_mode="floor")
    col = keys - row_of * num
    crow = torch.zeros(num + 1, dtype=torch.int64, device=indices.device)
    crow[1:] = torch.bincount(row_of, minlength=num).cumsum(0)
    return crow, col


@torch.no_grad()
def exact_max_cosine(u: torch.Tensor, chunk_size: int | None = None) -> float:
    """The exact (float64) largest cosine between distinct rows, with one float32 pass.

    A float32 blockwise pass gives each row's max r_i within delta = (D + 2) 2^-24 of its true
    value (the forward error of a length-D dot product of unit vectors, any summation order,
    plus rounding the rows to float32). The row holding the global maximum then has
    r_i >= max_j r_j - 2 delta, so only those candidate rows are recomputed against all rows in
    float64; the result equals the all-pairs float64 maximum.
    """
    num, dim = u.shape
    u64 = u.double()
    u32 = u.float()
    step = block_rows(num, chunk_size)
    row_max = torch.empty(num, dtype=torch.float32, device=u.device)
    for start in range(0, num, step):
        stop = min(num, start + step)
        cos = u32[start:stop] @ u32.T
        local = torch.arange(stop - start, device=u.device)
        cos[local, local + start] = -math.inf
        row_max[start:stop] = cos.max(dim=1).values
    delta = 1.01 * (dim + 2) * 2.0**-24
    candidates = torch.nonzero(row_max >= row_max.max() - 2 * delta).flatten()
    best = -math.inf
    for start in range(0, candidates.numel(), step):
        rows = candidates[start:start + step]
        cos = u64[rows] @ u64.T
        cos[torch.arange(rows.numel(), device=u.device), rows] = -math.inf
        best = max(best, float(cos.max()))
    return min(1.0, max(-1.0, best))


def _csr(crow, col, values, num):
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the ops used are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, (num, num), check_invariants=False)


def neighbour_smooth_max(u: torch.Tensor, crow: torch.Tensor, col: torch.Tensor,
                         temperature: float, *, gradient: bool = True):
    """Smooth maximum (1/t) log sum_{pairs} exp(t cos) over the pairs of a symmetric graph.

    Returns (value, gradient with respect to the unit rows ``u``, pair cosines in CSR order);
    the value is a 0-dim tensor (no host sync). Each pair sits twice in the symmetric structure,
    so the log-sum-exp over its entries is the pair log-sum-exp plus log 2, and the gradient
    sum_j w_ij u_j (w the softmax weight of pair ij) is 2 * W_sym @ u with W_sym the softmax over
    the entries. With the complete graph this is exactly :func:`energies.smooth_max_cosine`.
    """
    num = u.shape[0]
    zeros = torch.zeros(col.shape[0], dtype=u.dtype, device=u.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cos = torch.sparse.sampled_addmm(_csr(crow, col, zeros, num), u, u.T, beta=0.0).values()
    z = temperature * cos
    lse = torch.logsumexp(z, dim=0)
    value = (lse - math.log(2.0)) / temperature
    if not gradient:
        return value, None, cos
    weights = torch.exp(z - lse)
    grad = 2.0 * (_csr(crow, col, weights, num) @ u)
    return value, grad, cos


# --- the annealed descent ------------------------------------------------------------------------

class _Best:
    """The best iterate seen at refreshes, by exact score (max cosine + extra loss)."""

    def __init__(self):
        self.score, self.u, self.max_cos = math.inf, None, math.inf

    def offer(self, score, max_cos, u):
        if score < self.score:
            self.score, self.max_cos, self.u = score, max_cos, u.detach().clone()


def _extra_value_and_grad(extra_loss, u):
    v = u.detach().requires_grad_(True)
    with torch.enable_grad():
        value = extra_loss(v)
        (grad,) = torch.autograd.grad(value, v)
    return value.detach(), grad


def _descend(u, *, steps, lr, lr_end, t_start, t_end, k, refresh, chunk_size, extra_loss,
             deadline, best, bar, history):
    """Adam on the neighbour-list smooth max of unit rows ``u`` (dtype = precision), the rows
    projected back onto the sphere after every step; temperature ``t_start`` -> ``t_end`` and
    step ``lr`` -> ``lr_end`` geometrically. The graph is rebuilt every ``refresh`` steps and after
    the last one; each rebuild scores the iterate exactly and offers it to ``best``."""
    u = u.clone()
    num, dim = u.shape
    step_threads = _cpu_threads(float(num) * k * dim, u.device)
    refresh_threads = _cpu_threads(float(num) * num * dim, u.device)
    m, v = torch.zeros_like(u), torch.zeros_like(u)
    b1, b2, eps = 0.9, 0.999, 1e-8
    last = max(1, steps - 1)
    crow = col = None
    for step in range(steps + 1):
        if step % refresh == 0 or step == steps or time.perf_counter() > deadline:
            # Candidates by float32 products (ranking only); the score in the working dtype.
            with refresh_threads:
                _, indices = blockwise_topk(u.float(), k, chunk_size)
            with step_threads:
                crow, col = pair_graph(indices)
                _, _, cos = neighbour_smooth_max(u, crow, col, 1.0, gradient=False)
            max_cos = float(cos.max())  # host sync: once per refresh
            score = max_cos
            if extra_loss is not None:
                score += float(extra_loss(u))
            best.offer(score, max_cos, u)
            history.append(max_cos)
            if bar is not None:
                bar.set_postfix(min_angle=f"{float(angle_deg(best.max_cos)):.4f}")
            if step == steps or time.perf_counter() > deadline:
                break
        frac = step / last
        temperature = t_start * (t_end / t_start) ** frac
        step_lr = lr * (lr_end / lr) ** frac
        with step_threads:
            _, grad, _ = neighbour_smooth_max(u, crow, col, temperature)
            if extra_loss is not None:
                grad = grad + _extra_value_and_grad(extra_loss, u)[1]
            grad = grad - (grad * u).sum(dim=1, keepdim=True) * u  # tangent to the sphere
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = (v / (1 - b2 ** (step + 1))).sqrt_().add_(eps)
            u.addcdiv_(m, denom, value=-step_lr / (1 - b1 ** (step + 1)))
            u = torch.nn.functional.normalize(u, dim=1)
        if bar is not None:
            bar.update(1)
    return u


def _small(num, dim):
    """Small codes (K D <= 2e5): refreshes are cheap, so longer lists refreshed more often."""
    return num * dim <= 2e5


def _auto_iterations(num, dim):
    """Bulk float32 steps: 1500 for small codes (K=1000, D=64 reaches 81.37 deg with k=64,
    refresh 5; the dense solver 81.57), 300 up to K D = 1e7 (K=10,000, D=128 reaches 77.9 deg
    against the dense solver's 74.5), 150 above, where one step (~1 CPU-s per 2e4 x 512 points)
    and one refresh (K^2 D) dominate: K=100,000, D=512 then needs ~5 refreshes and ~180 steps."""
    return 1500 if _small(num, dim) else 300 if num * dim <= 1e7 else 150


def _auto_refresh(num, k):
    """Steps between exact refreshes: one refresh (K^2 D) costs about K/(4k) steps (K k D each,
    with a sparse-kernel overhead), so refreshing every ~K/(8k) steps keeps it near a third of
    the work; at least every 5 steps, at most every 100."""
    return int(min(100, max(5, num // (8 * k))))


def neighbour_tammes(num_classes: int, dim: int, *, seed: int = 0,
                     time_limit: float | None = None, progress: bool = True,
                     init: np.ndarray | None = None, extra_loss=None, device="auto",
                     k: int | None = None, refresh: int | None = None,
                     chunk_size: int | None = None,
                     iterations: int | None = None, polish_iterations: int | None = None,
                     lr: float = 0.01, lr_end: float = 2e-4, t_start: float = 30.0,
                     t_end: float = 3e3, polish_lr: float = 2e-4, polish_lr_end: float = 1e-6,
                     polish_t_start: float = 3e3, polish_t_end: float = 1e5,
                     memory_limit_bytes: int | None = None) -> Result:
    """Maximise the minimum pairwise angle of ``num_classes`` unit vectors in ``dim`` dimensions.

    The annealed smooth max of :func:`protogen.solvers.gradient.tammes` (temperature ``t_start``
    -> ``t_end``, Adam step ``lr`` -> ``lr_end``, ``iterations`` float32 steps) restricted to
    each point's ``k`` nearest neighbours, rebuilt exactly every ``refresh`` steps; then a float64
    polish (temperature ``polish_t_start`` -> ``polish_t_end``, ``polish_iterations`` steps) from
    the best iterate. The best iterate by exact max cosine (plus ``extra_loss`` when given) is
    returned; ``metadata`` holds its exact minimum angle over all pairs (chunked, float64).
    ``None`` defaults: k = 64 and 1500 + 500 steps refreshed every 5 for small codes (K D <= 2e5),
    else k = 32 and 300 + 60 (150 + 30 above K D = 1e7) steps refreshed every ~K/(8k).
    Starts from uniform random points drawn from ``seed`` or from ``init``. ``time_limit`` bounds
    the call (the bulk gets 85 % of it, the polish the rest). Refuses (ResourceError) sizes whose
    :func:`estimate_memory_bytes` exceeds the device's memory (or ``memory_limit_bytes``).
    """
    started = time.perf_counter()
    if k is None:
        k = 64 if _small(num_classes, dim) else 32
    for name, value in dict(num_classes=num_classes, dim=dim, k=k).items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if num_classes < 2 or dim < 2:
        raise InputError(f"need K >= 2 points in D >= 2 dimensions, got K={num_classes}, D={dim}")
    for name, value in dict(lr=lr, lr_end=lr_end, t_start=t_start, t_end=t_end,
                            polish_lr=polish_lr, polish_lr_end=polish_lr_end,
                            polish_t_start=polish_t_start, polish_t_end=polish_t_end).items():
        if not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"{name} must be positive, got {value!r}")
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time limit must be positive, got {time_limit}")
    k = int(min(k, num_classes - 1))
    if iterations is None:
        iterations = _auto_iterations(num_classes, dim)
    if polish_iterations is None:
        polish_iterations = 500 if _small(num_classes, dim) else max(30, iterations // 5)
    if refresh is None:
        refresh = _auto_refresh(num_classes, k)
    for name, value in dict(iterations=iterations, refresh=refresh).items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(polish_iterations, (int, np.integer)) or polish_iterations < 0:
        raise InputError(f"polish_iterations must be >= 0, got {polish_iterations!r}")
    dev = resolve_device(device)
    block_rows(num_classes, chunk_size)  # validates chunk_size
    memory = check_memory(num_classes, dim, k, chunk_size, dev, memory_limit_bytes)
    if init is not None:
        init = np.asarray(init, dtype=np.float64)
        if init.shape != (num_classes, dim):
            raise InputError(f"init has shape {init.shape}, expected {(num_classes, dim)}")
        start = np_normalize(init)
    else:
        start = np.random.default_rng(seed).standard_normal((num_classes, dim))
        start /= np.linalg.norm(start, axis=1, keepdims=True)

    deadline = math.inf if time_limit is None else started + time_limit
    bulk_deadline = math.inf if time_limit is None else started + 0.85 * time_limit
    best, history = _Best(), []
    bar = tqdm(total=iterations + polish_iterations, desc=f"neighbours K={num_classes} D={dim}",
               disable=not progress, leave=False)
    common = dict(k=k, refresh=refresh, chunk_size=chunk_size, extra_loss=extra_loss,
                  best=best, bar=bar, history=history)
    u = torch.tensor(start, dtype=torch.float32, device=dev)
    _descend(u, steps=iterations, lr=lr, lr_end=lr_end, t_start=t_start, t_end=t_end,
             deadline=bulk_deadline, **common)
    if polish_iterations > 0 and time.perf_counter() < deadline:
        _descend(best.u.double(), steps=polish_iterations, lr=polish_lr, lr_end=polish_lr_end,
                 t_start=polish_t_start, t_end=polish_t_end, deadline=deadline, **common)
    bar.close()
    final = torch.nn.functional.normalize(best.u.double(), dim=1)
    with _cpu_threads(float(num_classes) * num_classes * dim, dev):
        exact = exact_max_cosine(final, chunk_size)  # all pairs, float64
    prototypes = np_normalize(final.cpu().numpy())
    params = dict(k=k, refresh=refresh, chunk_size=chunk_size, iterations=iterations,
                  polish_iterations=polish_iterations, lr=lr, lr_end=lr_end, t_start=t_start,
                  t_end=t_end, polish_lr=polish_lr, polish_lr_end=polish_lr_end,
                  polish_t_start=polish_t_start, polish_t_end=polish_t_end, device=str(dev),
                  bulk_dtype="float32", polish_dtype="float64", init=init is not None,
                  time_limit=time_limit)
    metadata = dict(max_cosine=exact, min_angle_deg=float(angle_deg(exact)),
                    memory_estimate_bytes=memory, refreshes=len(history))
    return Result(prototypes, method="neighbours", seed=seed, params=params, history=history,
                  elapsed_s=time.perf_counter() - started, metadata=metadata)

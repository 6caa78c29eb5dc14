"""Global search for the Tammes problem: annealed (symmetric) starts, basin hopping, LP polish.

The annealed gradient solver (:func:`protogen.solvers.gradient.tammes`) is a strong local
optimiser that keeps falling into the same few basins; what finds records is many basins, tried
cheaply, and the best continued (the public Tammes solvers restart from random points and perturb
the best, see shared/PEERS.md). :func:`global_search` does, in order:

1. **Starts.** ``starts`` random codes annealed together as one batch with the gradient
   solver's schedule (:func:`protogen.solvers.gradient._anneal`: Adam on the log-sum-exp smooth
   max of the pairwise cosines, temperature rising, step shrinking); some starts are symmetric
   (antipodal, or in D = 3 unions of orbits of a rotation group), a symmetry the anneal keeps
   (:mod:`protogen.solvers.symmetric_starts`); in D = 3 the anneal starts hotter (temperature
   100, not 30), which spreads the starts over more basins. The best ``elite`` are kept and
   polished exactly (:func:`protogen.solvers.maxmin_polish.maxmin_polish`, an LP step on the
   contact graph; in exact mode, see 2., all of them after three LP steps on every start to rank
   them, otherwise the best one, and with the gradient solver's sharp polish for codes with
   over 800 tangent coordinates K (D - 1)).
2. **Hops.** Each round perturbs every elite code ``children`` times, by one of four moves in
   turn: jitter the points of the tightest contacts, jitter a random subset, move one contact
   point into the largest hole (best of many random directions), or shake every point a little.
   All children are re-annealed locally as one batch (a gentler, shorter, sharper schedule).
   *Exact mode* (codes with K (D - 1) <= 800 and no ``extra_loss``): every child gets three LP
   steps of the polish (annealed values rank basins badly: the anneal-to-polish gap, 0.03-0.05
   deg at N = 57..112 in D = 3, exceeds the gaps between neighbouring basins), the best child of
   each elite code is polished fully (unless its quick value is further above its parent's than
   twice the usual quick-to-full gain) and replaces its parent when its polished code is better:
   monotonic basin hopping on exact local optima. Otherwise values are annealed ones, an elite
   code is replaced by its best child when that is better, and a child that beats its parent is
   polished when its annealed value is within 1.5x the usual anneal-to-polish gap of the best
   polished value (children of the parent's own basin re-anneal to about the parent's value and
   are never polished). An elite code that has not improved for ``patience`` rounds (4 in exact
   mode, 12 otherwise) is replaced by a fresh annealed start, which keeps the population
   diverse; in D = 3 the rare record basins are found mostly this way. Every random draw comes
   from one generator seeded by ``seed``.
3. **Chain** (exact mode only): a fresh random code, jammed at a target above the best angle
   and polished, is improved by the overlap chain of :mod:`protogen.solvers.overlap_search` (fixed-target
   overlap relaxation, a few points at a time moved into the largest holes, after Lai et al.
   2023) for ``chain_iterations`` relocations, starting over from a fresh jammed code when it
   stalls; its better codes compete with the hops' best. ``chains`` chains (2) run side by
   side in threads; all but the first alternate random codes and the best of a screen of
   symmetric codes of every rotation group that fits, with vacancies
   (:func:`protogen.solvers.overlap_search.screened_symmetric_start`; antipodal codes outside
   D = 3) as their starts, symmetric first.
   A relocation costs one L-BFGS relaxation rather than an LP polish, so it tries hundreds of
   moves where the hops try dozens: on Sloane's D = 3 table it put 13 more codes within 0.01 %
   of the record by default (benchmarks/RESULTS.md, bench_codes (a)).
4. The best polished code is returned.

Budget: with ``time_limit`` the search is *anytime*: it stops at the deadline (inside an anneal if
need be) and returns the best code so far; the result then depends on the machine's speed. In
exact mode it runs the ``rounds`` hop rounds first and gives the rest of the time to the chain
(so a run with a time limit repeats the default run and goes on); otherwise hop rounds run until
the deadline. Without it, ``rounds`` hop rounds (default 3-10, scaled with K^2 D) and
``chain_iterations`` relocations are run, so the result is a function of the seed alone (bit for
bit on one machine).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from protogen.errors import InputError
from protogen.result import Result
from protogen.solvers.params import check_init
from protogen.solvers.gradient import _BATCH_ELEMENTS, _anneal, _device, _dtype, _threads_for
from protogen.solvers.gradient import polish as gradient_polish
from protogen.solvers.hop_moves import MOVES, perturb
from protogen.solvers.maxmin_polish import maxmin_polish
from protogen.solvers.parallel_chains import run_chains
from protogen.solvers.search_defaults import (LP_MAX_FREE, auto_chain_iterations, auto_children,
                                              auto_patience, auto_rounds, auto_start_iterations,
                                              auto_starts, auto_t_start, exact_mode)
from protogen.solvers.symmetric_starts import antipodal_start, point_group_start

# LP steps of a "quick" polish. Annealed values rank basins badly: the anneal-to-polish gap
# (0.03-0.05 deg at N = 57..112 in D = 3) exceeds the gap between neighbouring basins, so hops
# that compared annealed values kept the wrong child. Three LP steps rank them well enough to
# choose the child worth a full polish, at a fraction of its cost.
_QUICK_STEPS = 3
# Polished values of one basin differ by rounding; a child must beat its parent by more.
_EXACT_TOL = 1e-12


class _Scorer:
    """Exact objective of a batch of codes: max cosine (+ ``extra_loss`` when given)."""

    def __init__(self, extra_loss):
        self.extra_loss = extra_loss

    def __call__(self, code: np.ndarray) -> float:
        cos = code @ code.T
        np.fill_diagonal(cos, -np.inf)
        value = float(cos.max())
        if self.extra_loss is not None:
            with torch.no_grad():
                value += float(self.extra_loss(torch.tensor(code)))
        return value


def _check_inputs(num_classes, dim, time_limit, positive_ints, positive_floats):
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise InputError(f"the number of classes must be an integer >= 2, got {num_classes!r}")
    if not isinstance(dim, (int, np.integer)) or dim < 2:
        raise InputError(f"the dimension must be an integer >= 2, got {dim!r}")
    if time_limit is not None and (not isinstance(time_limit, (int, float)) or time_limit <= 0):
        raise InputError(f"time limit must be positive, got {time_limit!r}")
    for name, value in positive_ints.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    for name, value in positive_floats.items():
        if not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"{name} must be positive, got {value!r}")


def global_search(num_classes: int, dim: int, *, seed: int = 0, time_limit: float | None = None,
                  progress: bool = True, init: np.ndarray | None = None, extra_loss=None,
                  starts: int | None = None, start_iterations: int | None = None,
                  elite: int = 4, rounds: int | None = None, children: int | None = None,
                  hop_iterations: int = 250, patience: int | None = None,
                  lr: float = 0.02, lr_end: float = 5e-4, t_start: float | None = None,
                  t_end: float = 3e3, hop_lr: float = 0.004, hop_lr_end: float = 1e-4,
                  hop_t_start: float = 300.0, hop_t_end: float = 1e4,
                  init_noise: float = 0.02, chain_iterations: int | None = None,
                  chain_step: float = 5e-4, chain_patience: int = 200, chains: int = 2,
                  device: str = "cpu",
                  dtype="float64") -> Result:
    """Maximise the minimum angle of ``num_classes`` unit vectors in ``dim`` dimensions globally.

    See the module docstring for the method. ``starts``/``start_iterations``: the initial batch of
    annealed random codes and its schedule (``lr`` -> ``lr_end``, ``t_start`` -> ``t_end``);
    ``elite``: codes continued by hopping; ``rounds``: hop rounds (with ``time_limit``, outside
    exact mode, rounds run until the deadline); ``children``: perturbed copies of each elite
    code per round, re-annealed for ``hop_iterations`` steps (``hop_lr`` -> ``hop_lr_end``,
    ``hop_t_start`` -> ``hop_t_end``); ``patience``: rounds without improvement before an elite
    code is replaced by a fresh start; ``chain_iterations``, ``chain_step``, ``chain_patience``:
    the overlap chain's relocations (exact mode only), its target beyond the best angle (a
    fraction of it) and the relocations without progress before it returns to the best code
    (:func:`protogen.solvers.overlap_search.overlap_chain`); ``chains``: how many chains run
    side by side, each for ``chain_iterations`` (threads, one per core up to their number; the
    result does not depend on the number of cores). ``None`` defaults scale with K and
    D (see :mod:`protogen.solvers.search_defaults`). ``result.metadata`` says how the search ended
    (``search_stopped``: ``rounds`` or ``time_limit``) and counts rounds, starts, polishes and
    the chain's relocations. With ``init`` the first
    start is ``init`` and the others are ``init`` plus ``init_noise`` noise. With ``extra_loss``
    (a torch function of the (K, D) code) the objective is max cosine + extra_loss and the final
    polish is the gradient one (the LP polish knows only the max-min objective).
    """
    sized = isinstance(num_classes, (int, np.integer)) and isinstance(dim, (int, np.integer))
    if sized and t_start is None:
        t_start = auto_t_start(dim)
    if sized and start_iterations is None:
        start_iterations = auto_start_iterations(num_classes, dim)
    if sized and starts is None:
        starts = auto_starts(num_classes, dim, start_iterations)
    if sized and rounds is None:
        rounds = auto_rounds(num_classes, dim)
    exact = sized and exact_mode(num_classes, dim, extra_loss)
    if sized and patience is None:
        patience = auto_patience(exact)
    if sized and chain_iterations is None:
        chain_iterations = auto_chain_iterations(exact)
    if sized and children is None and isinstance(elite, (int, np.integer)) and elite > 0:
        children = auto_children(num_classes, elite, exact)
    _check_inputs(num_classes, dim, time_limit,
                  dict(starts=starts, start_iterations=start_iterations, elite=elite,
                       children=children, hop_iterations=hop_iterations,
                       patience=patience, chain_patience=chain_patience, chains=chains),
                  dict(lr=lr, lr_end=lr_end, t_start=t_start, t_end=t_end, hop_lr=hop_lr,
                       hop_lr_end=hop_lr_end, hop_t_start=hop_t_start, hop_t_end=hop_t_end,
                       chain_step=chain_step))
    if not isinstance(chain_iterations, (int, np.integer)) or chain_iterations < 0:
        raise InputError("chain_iterations must be a non-negative integer, "
                         f"got {chain_iterations!r}")
    if chain_iterations and not exact:
        raise InputError("chain_iterations needs exact mode: K (D - 1) <= "
                         f"{LP_MAX_FREE} and no extra objective term")
    if not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise InputError(f"rounds must be a non-negative integer, got {rounds!r}")
    init = check_init(init, num_classes, dim)
    params = dict(starts=starts, start_iterations=start_iterations, elite=elite, rounds=rounds,
                  children=children, hop_iterations=hop_iterations, patience=patience, lr=lr,
                  lr_end=lr_end, t_start=t_start, t_end=t_end, hop_lr=hop_lr,
                  hop_lr_end=hop_lr_end, hop_t_start=hop_t_start, hop_t_end=hop_t_end,
                  init_noise=init_noise, chain_iterations=chain_iterations,
                  chain_step=chain_step, chain_patience=chain_patience, chains=chains,
                  device=str(device),
                  dtype=str(dtype),
                  init=init is not None, time_limit=time_limit)
    search = _Search(num_classes, dim, seed=seed, time_limit=time_limit, extra_loss=extra_loss,
                     device=_device(device), dtype=_dtype(dtype), **{
                         k: params[k] for k in ("starts", "start_iterations", "elite",
                                                "children", "hop_iterations", "patience", "lr",
                                                "lr_end", "t_start", "t_end", "hop_lr",
                                                "hop_lr_end", "hop_t_start", "hop_t_end",
                                                "init_noise", "chain_step",
                                                "chain_patience", "chains")})
    with _threads_for(8.0 * num_classes * num_classes * dim * children * elite):
        code, metadata = search.run(rounds=rounds, chain_iterations=chain_iterations,
                                    init=init, progress=progress,
                                    timed=time_limit is not None)
    return Result(code, method="search", seed=seed, params=params, history=search.history,
                  metadata=metadata)


class _Search:
    """State of one global search: the elite codes, their values and the bookkeeping."""

    def __init__(self, num, dim, *, seed, time_limit, extra_loss, device, dtype, **settings):
        self.num, self.dim, self.seed = num, dim, seed
        self.rng = np.random.default_rng(seed)
        self.deadline = math.inf if time_limit is None else time.perf_counter() + time_limit
        self.extra_loss = extra_loss
        self.score = _Scorer(extra_loss)
        self.device, self.dtype = device, dtype
        self.s = settings
        self.history: list[float] = []
        self.gaps: list[float] = []
        self.fresh_count = 0
        self.polishes = 0
        self.quick_gains: list[float] = []
        self.best_code, self.best = None, math.inf
        # Exact mode: every elite code is LP-polished and hops compare polished values. Without
        # it (big codes, extra_loss) values are annealed ones and only promising codes are polished.
        self.exact = exact_mode(num, dim, extra_loss)
        self.bar = None

    def _out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline

    def _anneal(self, codes, iterations, lr, lr_end, t_start, t_end):
        done = []
        batch = max(1, _BATCH_ELEMENTS // (self.num * self.num))
        for first in range(0, len(codes), batch):
            out, _ = _anneal(codes[first:first + batch], iterations=iterations, lr=lr,
                             lr_end=lr_end, t_start=t_start, t_end=t_end,
                             extra_loss=self.extra_loss, device=self.device, dtype=self.dtype,
                             chunk_size=None, deadline=self.deadline, bar=None)
            done.append(out)
            if self._out_of_time():
                break
        return np.concatenate(done)

    def _quick(self, codes):
        """:data:`_QUICK_STEPS` LP steps on each code, with exact values (fewer codes when the
        deadline falls, but at least one)."""
        out, values = [], []
        for code in codes:
            if out and self._out_of_time():
                break
            polished = maxmin_polish(code, max_steps=_QUICK_STEPS)
            out.append(polished)
            values.append(self.score(polished))
        return np.array(out), np.array(values)

    def _quick_gain(self) -> float:
        """Median gain of a full polish over a quick one so far (inf before the first)."""
        return float(np.median(self.quick_gains)) if self.quick_gains else math.inf

    def _seat(self, code, value) -> list:
        """An elite slot [code, value, rounds without improvement] for a new code: in exact mode
        fully polished (unless the deadline has passed), otherwise annealed and offered."""
        if not self.exact:
            self._offer(code, value)
            return [code, value, 0]
        if not self._out_of_time():
            code, value = self._full_polish(code, value)
        self._improve(code, value)
        return [code, value, 0]

    def _full_polish(self, code, quick_value):
        """The LP polish run to convergence on a quick-polished code, its exact value, and the
        gain over the quick value recorded (see :meth:`_quick_gain`)."""
        polished = maxmin_polish(code)
        value = self.score(polished)
        self.polishes += 1
        self.quick_gains.append(quick_value - value)
        return polished, value

    def _polish(self, code, annealed_value) -> None:
        """Polish ``code`` exactly, offer it as the best and learn the anneal-to-polish gap."""
        if self.exact:
            polished = maxmin_polish(code)
        else:
            polished = gradient_polish(code, iterations=500, extra_loss=self.extra_loss)
        value = self.score(polished)
        self.polishes += 1
        if value > annealed_value:
            polished, value = code, annealed_value
        self.gaps.append(annealed_value - value)
        self._improve(polished, value)

    def _improve(self, code, value) -> None:
        if value < self.best:
            self.best_code, self.best = code, value
            self._show_best(value)

    def _show_best(self, value) -> None:
        if self.extra_loss is None and self.bar is not None:
            self.bar.set_postfix(best_deg=f"{math.degrees(math.acos(min(1, value))):.7f}")

    def _offer(self, code, annealed_value) -> None:
        """Polish an annealed code when it may beat the best, i.e. its annealed value lies
        within 1.5x the median anneal-to-polish gap of the best polished value (a code worse
        than that is, most likely, in a worse basin, and a polish costs tens of LPs)."""
        if self._out_of_time():
            self._improve(code, annealed_value)
            return
        margin = 1.5 * float(np.median(self.gaps)) if self.gaps else math.inf
        if annealed_value < self.best + margin:
            self._polish(code, annealed_value)

    def _draw_start(self, index) -> np.ndarray:
        """Start number ``index``: in D = 3 every 8th (from the 2nd) is a union of point-group
        orbits and every 8th (from the 6th) antipodal, in D >= 4 every other one is antipodal
        (see :mod:`protogen.solvers.symmetric_starts`; the record codes they find: the
        120-point code in D = 3, the 24-cell, D5's 40 roots), the rest uniform random (most
        D = 3 records are not symmetric this way, so they keep 3/4 of the starts).
        Symmetric kinds that do not exist for K fall back to random."""
        start = None
        if self.dim == 3 and index % 8 == 1:
            start = point_group_start(self.num, self.dim, self.rng)
        elif index % (8 if self.dim == 3 else 2) == (5 if self.dim == 3 else 1):
            start = antipodal_start(self.num, self.dim, self.rng)
        return self.rng.standard_normal((self.num, self.dim)) if start is None else start

    def _fresh(self, count, init=None):
        """``count`` annealed starts (random, or around ``init``), best first, with values."""
        if init is None:
            raw = np.stack([self._draw_start(self.fresh_count + i) for i in range(count)])
        else:
            raw = init[None] + self.s["init_noise"] * self.rng.standard_normal(
                (count, self.num, self.dim))
            raw[0] = init
        self.fresh_count += count
        raw /= np.linalg.norm(raw, axis=2, keepdims=True)
        codes = self._anneal(raw, self.s["start_iterations"], self.s["lr"], self.s["lr_end"],
                             self.s["t_start"], self.s["t_end"])
        if self.exact:
            codes, values = self._quick(codes)
        else:
            values = np.array([self.score(c) for c in codes])
        order = np.argsort(values, kind="stable")
        return codes[order], values[order]

    def run(self, *, rounds, chain_iterations, init, progress, timed):
        """Starts, then ``rounds`` hop rounds and ``chain_iterations`` chain relocations; with
        ``timed`` (a deadline is set) the last phase runs until the deadline: the chain when
        there is one (exact mode), else the hops."""
        chain = self.exact and chain_iterations > 0
        hop_rounds = rounds if chain or not timed else None
        chain_iterations = None if timed else chain_iterations
        self.bar = tqdm(total=None if timed else rounds + (self.s["chains"] * chain_iterations
                                                          if chain else 0),
                        desc=f"search K={self.num} D={self.dim}", disable=not progress,
                        leave=False)
        codes, values = self._fresh(self.s["starts"], init)
        # Slots hold codes and values of one kind (polished in exact mode, else annealed): hops
        # compare like with like.
        if self.exact:
            population = [self._seat(c, v) for c, v in zip(codes[:self.s["elite"]], values)]
        else:
            population = [[c, v, 0] for c, v in zip(codes[:self.s["elite"]], values)]
            self._offer(codes[0], values[0])
        self.history.append(self.best)
        done = 0
        while (hop_rounds is None or done < hop_rounds) and not self._out_of_time():
            self._hop(population)
            done += 1
            self.bar.update(1)
            for slot in population:
                if slot[2] >= self.s["patience"] and not self._out_of_time():
                    code, value = self._fresh(1)
                    slot[:] = self._seat(code[0], value[0])
            self.history.append(self.best)
        counts = {}
        if chain and not self._out_of_time():
            counts = self._chain(chain_iterations)
        self.bar.close()
        stopped = "time_limit" if self._out_of_time() else "rounds"
        metadata = dict(search_rounds=done, search_starts=self.fresh_count, search_stopped=stopped,
                        search_polishes=self.polishes, search_moves=",".join(MOVES), **counts)
        return self.best_code, metadata

    def _chain(self, iterations):
        """``chains`` overlap chains side by side in threads
        (:func:`protogen.solvers.parallel_chains.run_chains`). Their best codes are merged in
        chain order after they end and the history gains the best after every 10 relocations
        of each chain, so without a deadline the result and the history depend on the seed
        alone, however the threads were scheduled."""
        count = self.s["chains"]
        done = run_chains(self.num, self.dim, count=count, best_cos=self.best, rng=self.rng,
                          seed=self.seed, iterations=iterations, deadline=self.deadline,
                          step=self.s["chain_step"], patience=self.s["chain_patience"],
                          on_step=lambda: self.bar.update(1), on_better=self._show_best)
        trails = [trail for _, _, trail in done]
        for position in range(max(map(len, trails), default=0)):
            self.history.append(min(trail[min(position, len(trail) - 1)]
                                    for trail in trails if trail))
        # The chains' polishes stop after a few dozen LP steps; finish each chain's best (a few
        # LPs at most, so also after the deadline: a timed run must not return less than it
        # found).
        for code, _, _ in done:
            self._improve(code, self.score(code))
            polished = maxmin_polish(code)
            self._improve(polished, self.score(polished))
        self.history.append(self.best)
        totals = {}
        for _, counts, _ in done:
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
        return dict(totals, chains=count)

    def _hop(self, population):
        """One round of basin hopping from every elite code at once (one batched anneal):
        perturb each ``children`` times, re-anneal, and let the best child replace its parent
        when it is better."""
        per = self.s["children"]
        moves = [MOVES[i % len(MOVES)] for i in range(per)]
        kids = np.stack([perturb(slot[0], move, self.rng)
                         for slot in population for move in moves])
        kids = self._anneal(kids, self.s["hop_iterations"], self.s["hop_lr"],
                            self.s["hop_lr_end"], self.s["hop_t_start"], self.s["hop_t_end"])
        if self.exact:
            kids, values = self._quick(kids)
        else:
            values = np.array([self.score(k) for k in kids])
        for index, slot in enumerate(population):
            mine = values[index * per:(index + 1) * per]
            if len(mine) == 0 or (self.exact and self._out_of_time()):  # cut by the deadline
                break
            best = index * per + int(np.argmin(mine))
            if self.exact:
                # The most promising child (by its quick polish) is polished fully, unless its
                # quick value is further above its parent's than a full polish usually gains;
                # it replaces its parent when it lies in a better basin.
                code, value = kids[best], values[best]
                if value - slot[1] < 2.0 * self._quick_gain():
                    code, value = self._full_polish(code, value)
                    self._improve(code, value)
                if value < slot[1] - _EXACT_TOL:
                    slot[:] = [code, value, 0]
                else:
                    slot[2] += 1
            elif values[best] < slot[1]:
                # Only a child that beat its parent may be in a better basin than the best:
                # children of the parent's own basin re-anneal to about the parent's value.
                slot[:] = [kids[best], values[best], 0]
                self._offer(kids[best], values[best])
            else:
                slot[2] += 1

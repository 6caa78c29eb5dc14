"""Objective terms that compose: extra goals a solve pursues besides separating the prototypes.

A :class:`Term` can give a start code (``init``), re-label the rows of a start (``arrange``), a
differentiable extra loss for the gradient solvers (``loss``), an extra fitness for the
evolutionary algorithm (``fitness``), and the metrics, attributes and datasets it reports.
:func:`protogen.solvers.solve` (``terms=[...]``) is the only place that combines them:

1. every term is ``bind``-ed to the problem (K, D, class names, seed) and checks its inputs;
2. when a term ``needs_reference`` (or the caller asks for one) the plain solve runs first, with
   no terms; each term sees its code through ``set_reference`` (e.g. the hierarchy caps its pull
   at a fraction of the plain minimum angle) and its figures are the "plain_" metrics;
3. the start is the first term's own ``init`` (the semantic PCA), else the plain code when a
   term needs the reference, else none (random); then each term ``arrange``-s it in turn (the
   hierarchy re-labels points so that groups get clusters: with the semantic PCA start too,
   whose semantic order the semantic loss then restores within the groups);
4. the solver runs from that start on its own objective plus the sum of the active terms'
   ``loss`` (gradient solvers) or ``fitness`` (EA); a term's ``solver_defaults`` fill solver
   options the user left unset (the hierarchy refines with one restart);
5. when a term does not ``accept`` the solved code and the start is at least as well separated,
   the start is kept (the hierarchy's guard against losing too much minimum angle);
6. each term's ``metrics`` of the result (and of the start and the plain code), ``metadata`` and
   ``datasets`` go into the :class:`~protogen.result.Result` under the term's ``name`` prefix.

Terms: :class:`~protogen.terms.semantic.SemanticTerm` (rank agreement with word vectors, HPN
§2.1) and :class:`~protogen.terms.hierarchy.HierarchyTerm` (super-class grouping, DH2L).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Term:
    """Base class: every hook is optional (the defaults do nothing); see the module doc."""

    #: prefix of the metadata keys and the name listed in the file's ``terms`` attribute
    name: str = "term"
    #: the loss/fitness are used only when the weight is > 0
    weight: float = 0.0
    #: run the plain solve first and pass its code to :meth:`set_reference`
    needs_reference: bool = False
    #: solver options this term prefers when the user did not set them (only where they exist)
    solver_defaults: dict[str, Any] = {}

    def bind(self, num: int, dim: int, class_names: list[str] | None, seed: int) -> None:
        """Check the term against the problem and prepare it (raise ``InputError`` early)."""

    def set_reference(self, reference: np.ndarray) -> None:
        """The plain solve's code (K, D), before the term solve runs."""

    def init(self, num: int, dim: int, seed: int) -> np.ndarray | None:
        """A start code (K, D) with unit rows, or ``None``."""
        return None

    def arrange(self, start: np.ndarray, seed: int) -> np.ndarray:
        """The start with its rows re-labelled for this term (same point set)."""
        return start

    def loss(self, x):
        """Extra differentiable loss of the unit-row prototypes ``x`` (torch (K, D)) or None."""
        return None

    def fitness(self, batch: np.ndarray) -> np.ndarray | None:
        """Extra fitness (n,) of a batch (n, K, D) of candidate sets, or None."""
        return None

    def metrics(self, prototypes: np.ndarray) -> dict[str, float]:
        """Figures of merit of a code for this term (reported with the ``name`` prefix)."""
        return {}

    def accept(self, solved: np.ndarray, start: np.ndarray) -> bool:
        """Whether the solved code is worth more than the start for this term."""
        return True

    def metadata(self) -> dict[str, Any]:
        """Settings written as file attributes (with the ``name`` prefix)."""
        return {}

    def datasets(self) -> dict[str, np.ndarray]:
        """Arrays written next to the prototypes (e.g. ``class_vectors``)."""
        return {}


def __getattr__(attr):
    # The concrete terms import torch/gensim; load them only when asked for.
    if attr == "SemanticTerm":
        from protogen.terms.semantic import SemanticTerm

        return SemanticTerm
    if attr == "HierarchyTerm":
        from protogen.terms.hierarchy import HierarchyTerm

        return HierarchyTerm
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")

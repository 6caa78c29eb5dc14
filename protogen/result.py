"""A prototype set: prototypes plus everything needed to describe how they were made.

One class for both directions: every solver returns a :class:`Result`,
:func:`protogen.io.save_result` writes one and :func:`protogen.io.load_prototypes` reads one back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Result:
    """Output of every solver and of :func:`protogen.solvers.solve`; what a prototype file holds.

    ``params`` holds every solver parameter actually used (JSON-able values, saved as HDF5
    attributes ``param_<name>``); ``metadata`` holds extra attributes (semantic metrics,
    word-vector source, ...); ``datasets`` holds extra arrays written next to the prototypes
    (e.g. ``class_vectors``). ``history`` (the solver's objective per step) stays in memory and
    is not saved. ``file_attrs`` are the attributes the writer adds (format, version, date,
    metrics recomputed from the coordinates) and ``path`` the file, both set when loaded.

    Two results are equal when the saved content is: prototypes, method, seed, params,
    elapsed_s, class_names, metadata and datasets (not history, file_attrs or path).
    """

    prototypes: np.ndarray
    method: str | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    class_names: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, np.ndarray] = field(default_factory=dict)
    history: list[float] = field(default_factory=list)
    file_attrs: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def num_classes(self) -> int:
        return int(self.prototypes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.prototypes.shape[1])

    @property
    def attrs(self) -> dict[str, Any]:
        """Every attribute of the file as one flat dict (what the HDF5 file stores):
        ``file_attrs``, ``method``, ``seed``, ``elapsed_s``, ``param_<name>`` and ``metadata``
        (which wins over the others on a clash, as when saving)."""
        out = dict(self.file_attrs)
        out.update({"method": self.method, "seed": self.seed, "elapsed_s": self.elapsed_s})
        out.update({f"param_{k}": v for k, v in self.params.items()})
        out.update(self.metadata)
        return out

    def __eq__(self, other) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        names = [None if r.class_names is None else list(r.class_names) for r in (self, other)]
        return (np.array_equal(self.prototypes, other.prototypes)
                and (self.method, self.seed, self.elapsed_s) == (other.method, other.seed,
                                                                other.elapsed_s)
                and self.params == other.params and self.metadata == other.metadata
                and names[0] == names[1]
                and self.datasets.keys() == other.datasets.keys()
                and all(np.array_equal(v, other.datasets[k]) for k, v in self.datasets.items()))

"""The solver result: prototypes plus everything needed to describe how they were made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Result:
    """Output of every solver and of :func:`protogen.solvers.solve`.

    ``params`` holds every solver parameter actually used (JSON-able scalars, saved as HDF5
    attributes); ``metadata`` holds extra attributes (semantic metrics, word-vector source, ...);
    ``datasets`` holds extra arrays written next to the prototypes (e.g. ``class_vectors``).
    """

    prototypes: np.ndarray
    method: str
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    class_names: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, np.ndarray] = field(default_factory=dict)
    history: list[float] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return int(self.prototypes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.prototypes.shape[1])

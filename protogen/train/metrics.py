"""Evaluation figures from predictions (numpy): confusion matrix, accuracy, per-class accuracy,
absolute error. The trainer's evaluation computes each rank's confusion counts and
absolute-error sum here, adds them over DDP ranks and turns them into a report."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels, predictions, num_classes: int) -> np.ndarray:
    """(K, K) counts; row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    return np.bincount(labels * num_classes + predictions,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(confusion: np.ndarray) -> float:
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class; NaN for a class absent from the labels."""
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)


def absolute_error_sum(values, predictions) -> float:
    """Σ |value − prediction| in float64 (DDP ranks add these sums before dividing)."""
    values = np.asarray(values, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    return float(np.abs(values - predictions).sum())


def classification_report(confusion: np.ndarray, class_names=None) -> dict:
    names = class_names or [str(i) for i in range(confusion.shape[0])]
    per_class = per_class_accuracy(confusion)
    return {
        "accuracy": accuracy(confusion),
        "per_class_accuracy": {n: (None if np.isnan(a) else float(a))
                               for n, a in zip(names, per_class)},
        "confusion_matrix": confusion.astype(int).tolist(),
    }


def format_confusion(confusion: np.ndarray, class_names=None) -> str:
    """A plain-text table, rows = true class, columns = predicted class."""
    names = [str(n) for n in (class_names or range(confusion.shape[0]))]
    width = max(max(len(n) for n in names), len(str(int(confusion.max()))) if confusion.size else 1)
    lines = [" " * (width + 2) + " ".join(n[:width].rjust(width) for n in names)]
    for name, row in zip(names, confusion):
        lines.append(name[:width].rjust(width) + "  " + " ".join(str(int(v)).rjust(width)
                                                                 for v in row))
    return "\n".join(lines)

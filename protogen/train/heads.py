"""Heads: what sits on top of a network's output and turns it into a loss and a prediction.

A head is an ``nn.Module`` with ``forward(features) -> outputs`` (identity for prototype heads:
the network's output *is* the point compared with the prototypes), ``loss(outputs, targets) ->
scalar Tensor`` and ``predict(outputs) -> Tensor`` and a ``task`` attribute:

- ``"classification"``: targets and predictions are class indices (LongTensor).
- ``"regression"``: float values in the data's units.
- ``"joint"``: ``(labels, values)`` tuples.

Prototypes and regression bounds are buffers: saved in the checkpoint, never trained.
Classification heads are looked up by ``--loss`` name in :mod:`protogen.train.registry`.
"""

from __future__ import annotations

import abc

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from protogen.errors import InputError
from protogen import nn as pnn


class Head(nn.Module, abc.ABC):
    """A head maps network features to outputs; subclasses say how to score and predict."""

    task = "classification"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features

    @abc.abstractmethod
    def loss(self, outputs, targets) -> torch.Tensor:
        """Training loss of a batch."""

    @abc.abstractmethod
    def predict(self, outputs):
        """Class indices (or values, for regression) of a batch of outputs."""


def _as_buffer(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32))


class PrototypeHead(Head, pnn.PrototypeLoss):
    """Fixed class prototypes (K, D): loss Eq. (1), prediction Eq. (4). It *is* the public
    :class:`protogen.nn.PrototypeLoss` (same buffer ``prototypes``, same ``reduction``: sum as
    the paper, mean per example) with the head's interface on top."""

    def __init__(self, prototypes, reduction: str = "mean"):
        pnn.PrototypeLoss.__init__(self, prototypes, reduction=reduction)

    forward = Head.forward

    def loss(self, outputs, labels):
        return pnn.PrototypeLoss.forward(self, outputs, labels)

    def predict(self, outputs):
        return pnn.PrototypeLoss.predict(self, outputs)


class SoftmaxHead(Head):
    """Softmax cross-entropy on learned logits. When the network already outputs K values its
    last linear layer is the learned head; otherwise a linear layer D → K is added."""

    def __init__(self, in_dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, num_classes) if in_dim != num_classes else None

    def forward(self, features):
        return features if self.linear is None else self.linear(features)

    def loss(self, outputs, labels):
        return F.cross_entropy(outputs.float(), labels)

    def predict(self, outputs):
        return outputs.argmax(dim=1)


class NCMHead(Head):
    """Learnable prototypes, nearest-class-mean style: Deep NCM (Guerriero et al. 2018), the
    baseline of seed 000 §3.1, Fig. 4, in the three ways it computes the class means. Logits
    are negative squared Euclidean distances to the means; the means come from the outputs
    (detached), not from gradients:

    - ``decay``: m_c <- d m_c + (1 - d) (batch mean of class c), from the first batch on;
    - ``online``: the exact running mean of every output of class c seen so far,
      m_c <- (n_c m_c + s_c) / (n_c + b_c), n_c <- n_c + b_c;
    - ``condensation``: the online mean, but at the start of every epoch the count of each
      class is condensed to one, so old (stale) outputs weigh as a single example.
    """

    def __init__(self, in_dim: int, num_classes: int, decay: float = 0.9, mean: str = "decay"):
        super().__init__()
        if mean not in ("decay", "online", "condensation"):
            raise InputError(f"unknown NCM mean {mean!r} (choose from decay, online, "
                             "condensation)")
        self.decay, self.mean = float(decay), mean
        self.register_buffer("means", torch.zeros(num_classes, in_dim))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))
        if mean != "decay":  # (decay keeps the buffers of runs saved before the variants)
            self.register_buffer("counts", torch.zeros(num_classes, dtype=torch.float64))

    def _logits(self, outputs):
        return -torch.cdist(outputs.float(), self.means).pow(2)

    def start_epoch(self, epoch: int) -> None:
        if self.mean == "condensation":
            self.counts.clamp_(max=1.0)

    def loss(self, outputs, labels):
        if self.training:
            self._update(outputs.detach().float(), labels)
        return F.cross_entropy(self._logits(outputs), labels)

    @torch.no_grad()
    def _update(self, outputs, labels):
        k = self.means.shape[0]
        counts = torch.bincount(labels, minlength=k).to(outputs.dtype)
        sums = torch.zeros_like(self.means).index_add_(0, labels, outputs)
        present = counts > 0
        if self.mean == "decay":
            batch_means = sums[present] / counts[present, None]
            fresh = ~self.seen[present]
            new = torch.where(fresh[:, None], batch_means,
                              self.decay * self.means[present] + (1 - self.decay) * batch_means)
            self.means[present] = new
        else:
            n_old = self.counts[present].to(outputs.dtype)[:, None]
            self.means[present] = (n_old * self.means[present] + sums[present]) \
                / (n_old + counts[present, None])
            self.counts[present] += counts[present].double()
        self.seen |= present

    def predict(self, outputs):
        return self._logits(outputs).argmax(dim=1)


class RegressionHead(Head, pnn.RegressionPrototypeLoss):
    """Two opposite prototypes p_u and p_l = −p_u (Eqs. 6–7), the public
    :class:`protogen.nn.RegressionPrototypeLoss`; the bounds (from the training labels) are
    also a buffer, so evaluate/resume restore them from the checkpoint."""

    task = "regression"

    def __init__(self, upper_prototype, lower: float, upper: float, reduction: str = "mean"):
        if not upper > lower:
            raise InputError(f"regression needs distinct label bounds, got [{lower}, {upper}]")
        pnn.RegressionPrototypeLoss.__init__(self, upper_prototype, lower, upper,
                                             reduction=reduction)
        self.register_buffer("bounds", torch.tensor([float(lower), float(upper)],
                                                    dtype=torch.float64))
        self.register_load_state_dict_post_hook(lambda module, _: module._sync_bounds())

    forward = Head.forward

    def _sync_bounds(self):
        self.lower, self.upper = float(self.bounds[0]), float(self.bounds[1])

    def loss(self, outputs, values):
        return pnn.RegressionPrototypeLoss.forward(self, outputs, values)

    def predict(self, outputs):
        return pnn.RegressionPrototypeLoss.predict(self, outputs)


class SquaredRegressionHead(Head):
    """The paper's regression baseline (§3.2): squared loss on labels normalised to [0, 1],
    predictions clamped to [0, 1] and mapped back. With ``hidden`` the network's D outputs go
    through one more linear layer to one value ("2D+1D"); without, the network outputs 1."""

    task = "regression"

    def __init__(self, in_dim: int, lower: float, upper: float, hidden: bool = False,
                 reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction
        if not upper > lower:
            raise InputError(f"regression needs distinct label bounds, got [{lower}, {upper}]")
        if not hidden and in_dim != 1:
            raise InputError(f"the squared-loss baseline without a hidden layer has 1 output, "
                             f"not {in_dim}")
        self.linear = nn.Linear(in_dim, 1) if hidden else None
        self.register_buffer("bounds", torch.tensor([float(lower), float(upper)],
                                                    dtype=torch.float64))

    def forward(self, features):
        return features if self.linear is None else self.linear(features)

    def loss(self, outputs, values):
        lo, hi = float(self.bounds[0]), float(self.bounds[1])
        return pnn.squared_regression_loss(outputs.float(), values.float(), lo, hi,
                                           reduction=self.reduction)

    def predict(self, outputs):
        lo, hi = float(self.bounds[0]), float(self.bounds[1])
        return lo + outputs.float().reshape(-1).clamp(0.0, 1.0) * (hi - lo)


class JointHead(Head):
    """Classification and regression in one output space (§2.3): class prototypes and the
    regression axis p_u lie in orthogonal subspaces; the loss is w_c L_c + w_r L_r."""

    task = "joint"

    def __init__(self, class_prototypes, upper_prototype, lower: float, upper: float,
                 weights=(1.0, 1.0), reduction: str = "mean"):
        super().__init__()
        self.classes = PrototypeHead(class_prototypes, reduction)
        self.regression = RegressionHead(upper_prototype, lower, upper, reduction)
        self.weights = (float(weights[0]), float(weights[1]))

    def loss(self, outputs, targets):
        labels, values = targets
        return (self.weights[0] * self.classes.loss(outputs, labels)
                + self.weights[1] * self.regression.loss(outputs, values))

    def predict(self, outputs):
        return self.classes.predict(outputs), self.regression.predict(outputs)


class MultiTaskHead(Head):
    """The paper's multi-task baseline for the joint task (seed 000 §3.3, Table 4): K logits
    with softmax cross-entropy plus one output with the squared loss on labels normalised to
    [0, 1] by the bounds, weighted w_c L_CE + w_r L_sq. The network outputs K + 1 values."""

    task = "joint"

    def __init__(self, num_classes: int, lower: float, upper: float, weights=(1.0, 1.0),
                 reduction: str = "mean"):
        super().__init__()
        if not upper > lower:
            raise InputError(f"regression needs distinct label bounds, got [{lower}, {upper}]")
        self.num_classes = int(num_classes)
        self.weights = (float(weights[0]), float(weights[1]))
        self.reduction = reduction
        self.register_buffer("bounds", torch.tensor([float(lower), float(upper)],
                                                    dtype=torch.float64))

    def loss(self, outputs, targets):
        labels, values = targets
        outputs = outputs.float()
        lo, hi = float(self.bounds[0]), float(self.bounds[1])
        ce = F.cross_entropy(outputs[:, :self.num_classes], labels, reduction=self.reduction)
        sq = pnn.squared_regression_loss(outputs[:, self.num_classes], values.float(), lo, hi,
                                         reduction=self.reduction)
        return self.weights[0] * ce + self.weights[1] * sq

    def predict(self, outputs):
        outputs = outputs.float()
        lo, hi = float(self.bounds[0]), float(self.bounds[1])
        value = lo + outputs[:, self.num_classes].clamp(0.0, 1.0) * (hi - lo)
        return outputs[:, :self.num_classes].argmax(dim=1), value


def joint_prototypes(class_prototypes) -> tuple[np.ndarray, np.ndarray]:
    """Embed (K, D−1) class prototypes into D dimensions with the regression axis last.

    Class prototype k becomes (p_k, 0) and p_u = e_D, so every class prototype is orthogonal to
    p_u and p_l = −p_u: the paper's rotated-MNIST layout (classes in the (x, y)-plane, regression
    along z) for any D. Returns ``(classes (K, D), upper (D,))``.
    """
    p = np.asarray(class_prototypes, dtype=np.float64)
    k, d = p.shape
    classes = np.concatenate([p, np.zeros((k, 1))], axis=1)
    upper = np.zeros(d + 1)
    upper[-1] = 1.0
    return classes, upper

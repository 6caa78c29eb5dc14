"""protogen.nn: the public prototype losses against hand-written formulas and the official
HPN update (psmmettes/hpn hpn_cifar.py: loss = (1 - CosineSimilarity(eps=1e-9)(out, polars[y])).pow(2).sum())."""

import math

import numpy as np
import pytest
import torch

from protogen.errors import InputError
from protogen.nn import JointPrototypeLoss, PrototypeLoss, RegressionPrototypeLoss


def _protos(k=5, d=4, seed=0):
    p = np.random.default_rng(seed).normal(size=(k, d))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def _hand_loss(outputs, protos, labels):
    """Eq. (1) with explicit loops."""
    total = 0.0
    for z, y in zip(outputs.tolist(), labels.tolist()):
        p = protos[y]
        cos = sum(a * b for a, b in zip(z, p)) / (math.sqrt(sum(a * a for a in z))
                                                  * math.sqrt(sum(b * b for b in p)))
        total += (1 - cos) ** 2
    return total


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_prototype_loss_is_eq1(reduction):
    protos = _protos()
    out = torch.randn(7, 4, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 2])
    got = PrototypeLoss(protos, reduction=reduction)(out, labels).item()
    want = _hand_loss(out, protos, labels) / (1 if reduction == "sum" else 7)
    assert got == pytest.approx(want, rel=1e-5)


def test_predict_is_nearest_prototype_by_cosine():
    protos = _protos()
    out = torch.randn(50, 4, generator=torch.Generator().manual_seed(2))
    want = [int(np.argmax([np.dot(z, p) / np.linalg.norm(z) for p in protos]))
            for z in out.numpy()]
    assert PrototypeLoss(protos).predict(out).tolist() == want


def test_prototypes_are_a_buffer_not_a_parameter():
    crit = PrototypeLoss(_protos() * 3.0)  # rows need not be unit on input
    assert list(crit.parameters()) == []
    assert "prototypes" in crit.state_dict()
    np.testing.assert_allclose(crit.prototypes.norm(dim=1).numpy(), 1.0, atol=1e-6)
    moved = crit.to(torch.float64)  # buffers follow .to() like any module state
    assert moved.prototypes.dtype == torch.float64


def test_one_sgd_step_matches_the_official_update():
    """The official script: sum-reduced loss through nn.CosineSimilarity, SGD(lr=0.01,
    momentum=0.9, weight_decay=1e-4). Our module with reduction='sum' must give the same
    parameters after one step, and the step must equal the hand update w - lr (g + wd w)."""
    torch.manual_seed(0)
    protos = torch.as_tensor(_protos(10, 6), dtype=torch.float32)
    x = torch.randn(128, 20)
    y = torch.randint(0, 10, (128,))
    ours = torch.nn.Linear(20, 6)
    official = torch.nn.Linear(20, 6)
    official.load_state_dict(ours.state_dict())
    start = ours.weight.detach().clone()

    opt = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    PrototypeLoss(protos, reduction="sum")(ours(x), y).backward()
    grad = ours.weight.grad.detach().clone()
    opt.step()

    opt2 = torch.optim.SGD(official.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    cos = torch.nn.CosineSimilarity(eps=1e-9)
    (1 - cos(official(x), protos[y])).pow(2).sum().backward()
    opt2.step()

    torch.testing.assert_close(ours.weight, official.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.weight.detach(), start - 0.01 * (grad + 1e-4 * start))
    # The mean reduction is the same direction, 1/B the size (what the paper's lr assumes sum).
    ours.zero_grad()
    PrototypeLoss(protos, reduction="mean")(ours(x), y).backward()
    ours2 = torch.nn.Linear(20, 6)
    ours2.load_state_dict(ours.state_dict())
    PrototypeLoss(protos, reduction="sum")(ours2(x), y).backward()
    torch.testing.assert_close(ours.weight.grad * 128, ours2.weight.grad, rtol=1e-4, atol=1e-6)


def test_regression_loss_and_predict_are_eqs_6_7():
    p_u = np.array([0.0, 0.0, 2.0])
    crit = RegressionPrototypeLoss(p_u, lower=-10, upper=30, reduction="sum")
    out = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, -3.0], [0.0, 2.0, 0.0]])
    values = torch.tensor([30.0, 0.0, 10.0])
    cos = [1 / math.sqrt(2), -1.0, 0.0]
    r = [2 * (v + 10) / 40 - 1 for v in (30.0, 0.0, 10.0)]  # Eq. 7 by hand: 1, -0.5, 0
    assert crit(out, values).item() == pytest.approx(sum((a - b) ** 2 for a, b in zip(r, cos)))
    np.testing.assert_allclose(crit.predict(out).numpy(),
                               [-10 + (c + 1) / 2 * 40 for c in cos], rtol=1e-6)


def test_joint_loss_weights_the_two_parts():
    protos = np.eye(4)[:3]
    p_u = np.eye(4)[3]
    out = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    labels, values = torch.tensor([0, 1, 2, 0, 1, 2]), torch.linspace(0, 1, 6)
    joint = JointPrototypeLoss(protos, p_u, 0.0, 1.0, class_weight=2.0, regression_weight=0.5)
    want = (2.0 * PrototypeLoss(protos)(out, labels)
            + 0.5 * RegressionPrototypeLoss(p_u, 0.0, 1.0)(out, values))
    assert joint(out, labels, values).item() == pytest.approx(want.item())
    cls, val = joint.predict(out)
    assert cls.tolist() == PrototypeLoss(protos).predict(out).tolist()


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="reduction"):
        PrototypeLoss(_protos(), reduction="avg")
    with pytest.raises(InputError, match="shape"):
        PrototypeLoss(np.ones(4))
    with pytest.raises(InputError, match="lower < upper"):
        RegressionPrototypeLoss(np.ones(3), 1.0, 1.0)
    with pytest.raises(InputError, match="dimension"):
        JointPrototypeLoss(np.eye(3), np.ones(4), 0, 1)

"""Trainer pieces against hand-computed values: losses (seed 000 Eqs. 1–7), heads, joint
prototypes, metrics, models."""

import math

import numpy as np
import pytest
import torch

from protogen.errors import InputError
from protogen.train import heads as H
from protogen import nn as L
from protogen.train import metrics as M
from protogen.train.registry import HEADS, build_model


def test_prototype_loss_hand_computed():
    p = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    z = torch.tensor([[1.0, 0.0], [2.0, 2.0]])
    labels = torch.tensor([0, 1])
    # cos = 0.6 and 1/sqrt(2): mean of (1 - cos)^2
    expected = ((1 - 0.6) ** 2 + (1 - 1 / math.sqrt(2)) ** 2) / 2
    assert float(L.prototype_loss(z, p, labels)) == pytest.approx(expected, rel=1e-6)


def test_prototype_loss_gradient_matches_eqs_2_and_3():
    torch.manual_seed(0)
    z = torch.randn(1, 5, dtype=torch.float64, requires_grad=True)
    p = torch.nn.functional.normalize(torch.randn(3, 5, dtype=torch.float64), dim=1)
    L.prototype_loss(z, p, torch.tensor([2])).backward()
    zz, py = z.detach()[0], p[2]
    cos = float(zz @ py / zz.norm())
    # Eq. 2: 2 (1 - cos) d(1 - cos)/dz, Eq. 3: d(1 - cos)/dz = cos z/|z|^2 - p/(|z||p|)
    grad = 2 * (1 - cos) * (cos * zz / zz.norm() ** 2 - py / zz.norm())
    assert torch.allclose(z.grad[0], grad, atol=1e-12)


def test_prediction_is_argmax_cosine_not_dot_product():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # (3, 2.9) is nearer class 0 in angle; a different length does not change that
    z = torch.tensor([[3.0, 2.9], [0.1, 0.2], [-1.0, 0.0]])
    assert L.prototype_predict(z, p).tolist() == [0, 1, 1]
    # rows of unequal length: the cosine picks class 1, the dot product would pick class 0
    q = torch.tensor([[10.0, 0.0], [0.0, 1.0]])
    assert L.prototype_predict(torch.tensor([[0.5, 1.0]]), q).tolist() == [1]
    assert H.PrototypeHead(q.numpy()).predict(torch.tensor([[0.5, 1.0]])).tolist() == [1]


def test_regression_mapping_eq7_and_inverse():
    y = torch.tensor([10.0, 30.0, 20.0, 25.0])
    r = L.regression_target(y, 10.0, 30.0)
    assert r.tolist() == [-1.0, 1.0, 0.0, 0.5]
    assert torch.allclose(L.regression_value(r, 10.0, 30.0), y)


def test_regression_loss_and_prediction_hand_computed():
    pu = torch.tensor([0.0, 1.0])
    z = torch.tensor([[1.0, 0.0], [0.0, -3.0]])  # cos to p_u: 0 and -1
    y = torch.tensor([25.0, 10.0])               # r = 0.5 and -1
    assert float(L.regression_loss(z, pu, y, 10.0, 30.0)) == pytest.approx((0.25 + 0) / 2)
    assert L.regression_predict(z, pu, 10.0, 30.0).tolist() == [20.0, 10.0]


def test_squared_baseline_normalises_and_clamps():
    head = H.SquaredRegressionHead(1, 10.0, 30.0)
    out = torch.tensor([[0.5], [1.7], [-0.2]])
    values = torch.tensor([25.0, 30.0, 10.0])
    # targets (0.75, 1, 0): errors 0.25, 0.7, 0.2
    assert float(head.loss(out, values)) == pytest.approx((0.0625 + 0.49 + 0.04) / 3)
    assert head.predict(out).tolist() == pytest.approx([20.0, 30.0, 10.0])
    with pytest.raises(InputError):
        H.SquaredRegressionHead(3, 0.0, 1.0, hidden=False)
    assert H.SquaredRegressionHead(3, 0.0, 1.0, hidden=True)(torch.zeros(4, 3)).shape == (4, 1)


def test_joint_prototypes_are_orthogonal_to_the_regression_axis():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((7, 4))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    classes, upper = H.joint_prototypes(p)
    assert classes.shape == (7, 5) and upper.shape == (5,)
    assert np.allclose(classes @ upper, 0.0)
    assert np.allclose(np.linalg.norm(classes, axis=1), 1.0) and np.linalg.norm(upper) == 1.0
    assert np.allclose(classes @ classes.T, p @ p.T)  # class geometry unchanged


def test_joint_head_sums_weighted_losses():
    head = H.JointHead(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([0.0, 0.0, 1.0]),
                       0.0, 180.0, weights=(2.0, 0.5))
    z = torch.tensor([[1.0, 0.0, 1.0]])   # cos to class 0: 1/sqrt2, to p_u: 1/sqrt2
    labels, values = torch.tensor([0]), torch.tensor([90.0])  # r = 0
    expected = 2.0 * (1 - 1 / math.sqrt(2)) ** 2 + 0.5 * (0 - 1 / math.sqrt(2)) ** 2
    assert float(head.loss(z, (labels, values))) == pytest.approx(expected, rel=1e-6)
    cls, val = head.predict(z)
    assert cls.tolist() == [0] and float(val[0]) == pytest.approx(90 + 90 / math.sqrt(2))


def test_softmax_head_cross_entropy_by_hand():
    head = H.SoftmaxHead(2, 2)  # D = K: the network's last layer is the linear head
    assert head.linear is None
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert float(head.loss(logits, torch.tensor([1]))) == pytest.approx(-math.log(0.75))
    assert H.SoftmaxHead(3, 5)(torch.zeros(2, 3)).shape == (2, 5)


def test_ncm_head_running_means():
    head = H.NCMHead(2, 3, decay=0.5)
    head.train()
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    head.loss(z, torch.tensor([0, 0, 1]))
    assert head.means.tolist() == [[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]  # first batch: set
    head.loss(torch.tensor([[0.0, 4.0]]), torch.tensor([0]))
    assert head.means[0].tolist() == [1.0, 2.0]  # 0.5 * (2, 0) + 0.5 * (0, 4)
    assert head.predict(torch.tensor([[0.1, 1.9], [1.1, 2.0]])).tolist() == [1, 0]


def test_heads_registry_and_prototypes_are_not_trained():
    protos = np.vstack([np.eye(3), [[1.0, 1.0, 0.0]]])
    head = HEADS["prototype"](3, 4, prototypes=protos)
    assert not list(head.parameters())
    assert list(head.state_dict()) == ["prototypes"]  # the checkpoint key old runs used
    with pytest.raises(InputError, match="non-zero"):  # a zero row has no direction
        HEADS["prototype"](3, 4, prototypes=np.eye(4)[:, :3])
    with pytest.raises(InputError):
        HEADS["prototype"](3, 4)


def test_metrics_against_sklearn_and_loops():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    conf = M.confusion_matrix(y, p, 4)
    assert np.array_equal(conf, confusion_matrix(y, p, labels=range(4)))
    assert M.accuracy(conf) == pytest.approx(np.mean(y == p))
    for k, a in enumerate(M.per_class_accuracy(conf)):
        assert a == pytest.approx(np.mean(p[y == k] == k))
    v, w = rng.normal(size=50), rng.normal(size=50)
    assert M.absolute_error_sum(v, w) == pytest.approx(sum(abs(a - b) for a, b in zip(v, w)))
    assert np.isnan(M.per_class_accuracy(M.confusion_matrix([0, 0], [0, 1], 3))[2])


@pytest.mark.parametrize("name,shape", [("mlp", (1, 8, 8)), ("cnn", (1, 28, 28)),
                                        ("cnn", (1, 4, 4)), ("resnet32", (3, 32, 32))])
def test_models_output_the_prototype_dimension(name, shape):
    model = build_model(name, shape, 7)
    assert model(torch.zeros(2, *shape)).shape == (2, 7)


def test_resnet32_has_32_weighted_layers():
    model = build_model("resnet32", (3, 32, 32), 10)
    convs = [n for n, m in model.named_modules()
             if isinstance(m, torch.nn.Conv2d) and "shortcut" not in n]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == 32


def test_unknown_model_is_an_input_error():
    with pytest.raises(InputError, match="unknown model"):
        build_model("nope", (1, 8, 8), 3)

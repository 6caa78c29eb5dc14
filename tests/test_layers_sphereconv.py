"""SphereNet (seed 001): operators, SphereConv2d/SphereLinear, W-/GA-Softmax, orthogonality."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from protogen.errors import InputError
from protogen.layers.sphereconv import (SafeArccos, SphereCNN, SphereConv2d, SphereLinear,
                                        WSoftmaxHead, orthogonality, sphere_g, sphere_psi)


def _paper_sigmoid(theta, k):
    # Eq. (4) in its exponential form, written independently of the tanh form in the module.
    a = math.exp(-math.pi / (2 * k))
    e = math.exp(theta / k - math.pi / (2 * k))
    return (1 + a) / (1 - a) * (1 - e) / (1 + e)


@pytest.mark.parametrize("cos,expected", [(1.0, 1.0), (0.5, 1 / 3), (0.0, 0.0), (-0.5, -1 / 3),
                                          (-1.0, -1.0)])
def test_linear_operator_hand_values(cos, expected):
    # 1 - 2θ/π with θ = 0, π/3, π/2, 2π/3, π
    got = sphere_g(torch.tensor([cos], dtype=torch.float64), "linear")
    assert float(got) == pytest.approx(expected, abs=1e-6)


def test_cosine_operator_is_the_cosine():
    c = torch.tensor([-0.9, -0.2, 0.0, 0.3, 0.77], dtype=torch.float64)
    assert torch.equal(sphere_g(c, "cosine"), c)


@pytest.mark.parametrize("k", [0.1, 0.3, 0.5, 0.7, 2.0])
def test_sigmoid_operator_matches_eq4(k):
    thetas = [0.0, 0.4, math.pi / 3, math.pi / 2, 2.0, 2.9]
    c = torch.tensor([math.cos(t) for t in thetas], dtype=torch.float64)
    got = sphere_g(c, "sigmoid", k).numpy()
    want = [_paper_sigmoid(t, k) for t in thetas]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_sigmoid_limits_step_and_linear():
    c = torch.tensor([0.5, -0.5], dtype=torch.float64)
    np.testing.assert_allclose(sphere_g(c, "sigmoid", 0.01).numpy(), [1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(sphere_g(c, "sigmoid", 1000.0).numpy(),
                               sphere_g(c, "linear").numpy(), atol=1e-5)


def test_bad_operator_and_k():
    with pytest.raises(InputError, match="unknown SphereConv operator"):
        sphere_g(torch.zeros(1), "tanh")
    with pytest.raises(InputError, match="positive"):
        SphereConv2d(1, 2, operator="sigmoid", k=0.0)


def _unfold_reference(x, weight, op, k, padding, stride):
    """Explicit patches: cos of every patch with every kernel, then g."""
    n, _, h, w = x.shape
    out, _, kh, kw = weight.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)        # (N, CKK, L)
    wf = weight.reshape(out, -1)
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    res = torch.empty(n, out, oh * ow, dtype=x.dtype)
    for b in range(n):
        for o in range(out):
            for loc in range(cols.shape[2]):
                p = cols[b, :, loc]
                cos = float(p @ wf[o]) / (float(p.norm()) * float(wf[o].norm()))
                theta = math.acos(max(-1.0, min(1.0, cos)))
                if op == "linear":
                    g = 1 - 2 * theta / math.pi
                elif op == "cosine":
                    g = cos
                else:
                    g = _paper_sigmoid(theta, k)
                res[b, o, loc] = g
    return res.reshape(n, out, oh, ow)


@pytest.mark.parametrize("op", ["linear", "cosine", "sigmoid"])
@pytest.mark.parametrize("padding,stride", [(0, 1), (1, 2)])
def test_sphereconv2d_equals_unfold_and_angle(op, padding, stride):
    torch.manual_seed(0)
    x = torch.rand(2, 2, 4, 4, dtype=torch.float64) + 0.05    # no all-zero patch
    conv = SphereConv2d(2, 3, 3, stride=stride, padding=padding, operator=op, k=0.3).double()
    got = conv(x)
    want = _unfold_reference(x, conv.weight.detach(), op, 0.3, padding, stride)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


def test_sphereconv_output_is_scale_invariant_and_bounded():
    torch.manual_seed(1)
    conv = SphereConv2d(2, 3, 3, padding=1, operator="linear").double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    y = conv(x).detach()
    torch.testing.assert_close(conv(7.5 * x).detach(), y)
    with torch.no_grad():
        conv.weight.mul_(0.01)
    torch.testing.assert_close(conv(x).detach(), y)
    assert float(y.abs().max()) <= 1 + 1e-9


def test_zero_patch_gives_zero_output():
    conv = SphereConv2d(1, 2, 3, operator="sigmoid")
    assert torch.all(conv(torch.zeros(1, 1, 4, 4)) == 0)


def test_learnable_sigmoid_starts_at_k_and_learns_positive_k():
    torch.manual_seed(2)
    x = torch.rand(2, 2, 4, 4, dtype=torch.float64)
    fixed = SphereConv2d(2, 3, 3, operator="sigmoid", k=0.5).double()
    learn = SphereConv2d(2, 3, 3, operator="learnable-sigmoid", k=0.5).double()
    with torch.no_grad():
        learn.weight.copy_(fixed.weight)
    torch.testing.assert_close(learn(x), fixed(x))
    learn(x).sum().backward()
    assert learn.k_raw.grad is not None and torch.all(learn.k_raw.grad != 0)
    with torch.no_grad():
        learn.k_raw.fill_(-30.0)           # a huge negative raw value still gives k > 0
    assert torch.all(learn.k_value() > 0)


def test_rescale_is_sigma_g_plus_beta():
    torch.manual_seed(3)
    plain = SphereLinear(4, 3, operator="cosine").double()
    scaled = SphereLinear(4, 3, operator="cosine", rescale=True).double()
    with torch.no_grad():
        scaled.weight.copy_(plain.weight)
        scaled.scale.copy_(torch.tensor([2.0, 0.5, -1.0]))
        scaled.shift.copy_(torch.tensor([0.1, 0.0, 3.0]))
    x = torch.randn(5, 4, dtype=torch.float64)
    want = plain(x) * torch.tensor([2.0, 0.5, -1.0], dtype=torch.float64) + torch.tensor(
        [0.1, 0.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(scaled(x), want)


def test_spherelinear_equals_naive_cosines():
    torch.manual_seed(4)
    lin = SphereLinear(6, 4, operator="cosine").double()
    x = torch.randn(3, 6, dtype=torch.float64)
    w = lin.weight.detach()
    want = torch.tensor([[float(x[i] @ w[j]) / float(x[i].norm() * w[j].norm())
                          for j in range(4)] for i in range(3)], dtype=torch.float64)
    torch.testing.assert_close(lin(x), want)


# ---------------------------------------------------------------------------- gradcheck
def test_gradcheck_safe_arccos():
    c = torch.tensor([-0.9, -0.3, 0.0, 0.4, 0.95], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: SafeArccos.apply(t, 1e-12), (c,))


def test_safe_arccos_gradient_is_finite_at_the_ends():
    c = torch.tensor([-1.0, 1.0], dtype=torch.float64, requires_grad=True)
    SafeArccos.apply(c, 1e-6).sum().backward()
    assert torch.all(torch.isfinite(c.grad))


@pytest.mark.parametrize("op", ["linear", "cosine", "sigmoid", "learnable-sigmoid"])
def test_gradcheck_sphereconv2d(op):
    torch.manual_seed(5)
    conv = SphereConv2d(1, 2, 2, operator=op, k=0.4).double()
    x = (torch.rand(1, 1, 3, 3, dtype=torch.float64) + 0.1).requires_grad_()
    params = [x, conv.weight] + ([conv.k_raw] if conv.k_raw is not None else [])

    def f(*args):
        return conv(args[0])

    assert torch.autograd.gradcheck(f, tuple(params), atol=1e-5)


@pytest.mark.parametrize("op,margin", [("cosine", 1.0), ("linear", 4.0), ("sigmoid", 3.0),
                                       ("cosine", 4.0)])
def test_gradcheck_softmax_heads(op, margin):
    torch.manual_seed(6)
    head = WSoftmaxHead(4, 3, operator=op, margin=margin, k=0.3).double()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 1, 0])
    head.eval()   # no λ step counting inside gradcheck's repeated calls
    assert torch.autograd.gradcheck(lambda t: F.cross_entropy(
        head.logits(t, y), y), (x,), atol=1e-5)


# ---------------------------------------------------------------------------- heads
def test_w_softmax_cosine_is_softmax_over_normalised_weights():
    torch.manual_seed(7)
    head = WSoftmaxHead(5, 4, operator="cosine").double()
    x = torch.randn(6, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    w_hat = head.weight.detach() / head.weight.detach().norm(dim=1, keepdim=True)
    want = F.cross_entropy(x @ w_hat.t(), y)          # ‖x‖ cos θ_j = x·ŵ_j, no bias
    torch.testing.assert_close(head.loss(x, y), want)
    assert torch.equal(head.predict(x), (x @ w_hat.t()).argmax(1))


def test_ga_softmax_margin_one_is_w_softmax():
    torch.manual_seed(8)
    a = WSoftmaxHead(5, 4, operator="sigmoid", margin=1.0).double()
    b = WSoftmaxHead(5, 4, operator="sigmoid", margin=1.0).double()
    b.load_state_dict(a.state_dict())
    b.margin = 1.0 + 1e-12   # takes the margin branch: ψ = g for m → 1
    x = torch.randn(6, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(a.loss(x, y), b.loss(x, y), atol=1e-6, rtol=1e-6)


def test_ga_softmax_cosine_is_a_softmax_without_blending():
    torch.manual_seed(9)
    head = WSoftmaxHead(3, 2, operator="cosine", margin=4, lambda_start=0.0,
                        lambda_min=0.0).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    w_hat = F.normalize(head.weight.detach(), dim=1)
    logits = x @ w_hat.t()
    for i in range(4):   # A-Softmax: ‖x‖((−1)^j cos(4θ) − 2j), j = ⌊4θ/π⌋
        c = float(logits[i, y[i]]) / float(x[i].norm())
        theta = math.acos(c)
        j = min(3, math.floor(4 * theta / math.pi))
        logits[i, y[i]] = float(x[i].norm()) * ((-1) ** j * math.cos(4 * theta) - 2 * j)
    torch.testing.assert_close(head.loss(x, y), F.cross_entropy(logits, y))


@pytest.mark.parametrize("op", ["linear", "cosine", "sigmoid"])
@pytest.mark.parametrize("m", [2.0, 3.0, 4.0, 2.5])
def test_psi_is_continuous_and_decreasing_on_0_pi(op, m):
    theta = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    psi = sphere_psi(torch.cos(theta), op, m, k=0.3)
    d = psi[1:] - psi[:-1]
    assert float(d.max()) <= 1e-9                     # monotone non-increasing
    assert float(d.abs().max()) < 0.05                # no jumps
    assert float(psi[0]) == pytest.approx(1.0, abs=1e-6)


def test_ga_softmax_lambda_anneals_in_training_only():
    head = WSoftmaxHead(3, 2, margin=4)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    first = head.blend()
    head.train()
    for _ in range(50):
        head.loss(x, y)
    assert head.blend() < first and head.blend() >= head.lambda_min
    head.eval()
    before = int(head.steps)
    head.loss(x, y)
    assert int(head.steps) == before


def test_w_softmax_rejects_margin_below_one():
    with pytest.raises(InputError, match="margin"):
        WSoftmaxHead(3, 2, margin=0.5)


# ---------------------------------------------------------------------------- orthogonality
def test_orthogonality_hand_values():
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    # directions: cos = 1/√2 off the diagonal → 2 · 1/2 = 1
    assert float(orthogonality(w)) == pytest.approx(1.0)
    # raw: WWᵀ − I = [[0, 1], [1, 1]] → 3
    assert float(orthogonality(w, normalize=False)) == pytest.approx(3.0)
    assert float(orthogonality(torch.eye(3))) == pytest.approx(0.0)


def test_sphere_cnn_shapes_and_plain_baseline():
    x = torch.randn(2, 1, 8, 8)
    for op in ("cosine", "none"):
        net = SphereCNN((1, 8, 8), 10, sphere_op=op)
        assert net(x).shape == (2, 10)
    assert any(isinstance(m, SphereConv2d) for m in SphereCNN((3, 16, 16), 5).modules())


def test_sphere_layers_compute_angles_in_full_precision_under_autocast():
    torch.manual_seed(10)
    conv = SphereConv2d(2, 3, 3, padding=1, operator="sigmoid", k=0.3)
    lin = SphereLinear(5, 4, operator="linear")
    x, v = torch.rand(1, 2, 5, 5), torch.randn(3, 5)
    want_c, want_l = conv(x), lin(v)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got_c, got_l = conv(x.bfloat16()), lin(v.bfloat16())
    assert got_c.dtype == torch.float32 and got_l.dtype == torch.float32
    torch.testing.assert_close(got_c, want_c, atol=2e-2, rtol=0)
    torch.testing.assert_close(got_l, want_l, atol=2e-2, rtol=0)

"""MHE regulariser (seed 002) against the solvers' energies and a naive loop."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from protogen.energies import riesz_energy
from protogen.errors import InputError
from protogen.layers import build_regularizers
from protogen.layers.mhe import MHERegularizer, layer_energy, parse_mhe_spec
from protogen.layers.sphereconv import SphereCNN, WSoftmaxHead


def _naive_mean_energy(w, s, half_space=False, angular=False):
    """1/(#pairs) Σ f_s(d) over unordered pairs of normalised rows (and antipodes)."""
    u = [np.asarray(r) / np.linalg.norm(r) for r in np.asarray(w, dtype=np.float64)]
    pts = [(i, p) for i, p in enumerate(u)]
    if half_space:
        pts += [(i, -p) for i, p in enumerate(u)]
    vals = []
    for (i, a), (j, b) in itertools.combinations(pts, 2):
        if i == j:          # a neuron and its own antipode: left out (constant distance 2)
            continue
        d = math.acos(max(-1.0, min(1.0, float(a @ b)))) if angular else float(
            np.linalg.norm(a - b))
        vals.append(math.log(1 / d) if s == 0 else d ** -s)
    return sum(vals) / len(vals)


@pytest.mark.parametrize("s", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("half_space", [False, True])
@pytest.mark.parametrize("angular", [False, True])
def test_layer_energy_equals_solver_energy_and_naive_loop(s, half_space, angular):
    torch.manual_seed(0)
    w = torch.randn(6, 2, 2, 2, dtype=torch.float64)       # 6 conv kernels of 2x2x2
    got = layer_energy(w, s, half_space=half_space, angular=angular)
    ref = riesz_energy(w.flatten(1), s, half_space=half_space, angular=angular,
                       reduction="mean")
    torch.testing.assert_close(got, ref)
    assert float(got) == pytest.approx(_naive_mean_energy(w.flatten(1), s, half_space, angular),
                                       rel=1e-9)


def test_regularizer_is_weighted_sum_of_layer_means():
    torch.manual_seed(1)
    hidden = [torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)]
    out = torch.randn(3, 7, dtype=torch.float64)
    reg = MHERegularizer(hidden, out, "s=1,hidden=2.5,output=10")
    want = 2.5 * sum(_naive_mean_energy(h, 1.0) for h in hidden) + 10 * _naive_mean_energy(
        out, 1.0)
    assert float(reg()) == pytest.approx(want, rel=1e-9)


def test_half_space_only_in_hidden_layers():
    torch.manual_seed(2)
    hidden = [torch.randn(5, 3, dtype=torch.float64)]
    out = torch.randn(4, 3, dtype=torch.float64)
    reg = MHERegularizer(hidden, out, "s=2,hidden=1,output=1,half-space")
    want = _naive_mean_energy(hidden[0], 2, half_space=True) + _naive_mean_energy(out, 2)
    assert float(reg()) == pytest.approx(want, rel=1e-9)


def test_spec_parser_defaults_and_errors():
    spec = parse_mhe_spec("s=2,hidden=1,output=10,half-space")
    assert (spec.s, spec.hidden_weight, spec.output, spec.half_space) == (2.0, 1.0, 10.0, True)
    assert parse_mhe_spec("s=0").hidden_weight == 10.0            # paper: full space λ_h = 10
    assert parse_mhe_spec("half-space").hidden_weight == 1.0      # half space λ_h = 1
    assert parse_mhe_spec("angular,batch=8,seed=3").batch == 8
    for bad, msg in [("s=x", "expects a number"), ("colour=red", "cannot read"),
                     ("s=-1", "s must be"), ("batch=1", "batch")]:
        with pytest.raises(InputError, match=msg) as exc:
            parse_mhe_spec(bad)
        assert "\n" not in str(exc.value)


def test_minibatch_sampling_is_seeded_and_unbiased():
    torch.manual_seed(3)
    w = torch.randn(12, 4, dtype=torch.float64)
    reg = MHERegularizer([w], None, "s=1,hidden=1,batch=4,seed=7")
    again = MHERegularizer([w], None, "s=1,hidden=1,batch=4,seed=7")
    draws = [float(reg()) for _ in range(400)]
    assert draws[:5] == [float(again()) for _ in range(5)]
    # Each draw is the exact mean energy of some 4-subset...
    subsets = {round(_naive_mean_energy(w[list(c)], 1.0), 9)
               for c in itertools.combinations(range(12), 4)}
    assert all(round(d, 9) in subsets for d in draws[:20])
    # ... and their average estimates the full layer's mean energy.
    full = _naive_mean_energy(w, 1.0)
    assert np.mean(draws) == pytest.approx(full, rel=0.03)


def test_build_regularizers_finds_hidden_and_output_layers():
    torch.manual_seed(4)
    model = SphereCNN((1, 8, 8), 6, sphere_op="cosine", stages=(4, 6))
    head = WSoftmaxHead(6, 3)
    (reg,) = build_regularizers(model, mhe="s=2,hidden=1,output=1", head=head)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
              or hasattr(m, "cosines")]
    hidden = sum(_naive_mean_energy(m.weight.detach().flatten(1), 2) for m in layers)
    want = hidden + _naive_mean_energy(head.weight.detach(), 2)
    assert float(reg()) == pytest.approx(want, rel=1e-5)
    reg().backward()
    assert head.weight.grad is not None and model.fc.weight.grad is not None


def test_mhe_gradient_spreads_neurons():
    torch.manual_seed(5)
    w = nn.Parameter(torch.randn(8, 3) * 0.1 + torch.tensor([1.0, 0, 0]))
    reg = MHERegularizer([w], None, "s=2,hidden=1")
    opt = torch.optim.SGD([w], lr=0.01)
    before = float(reg())
    for _ in range(50):
        opt.zero_grad()
        reg().backward()
        opt.step()
    assert float(reg()) < before


def test_orthogonality_regularizer_via_build():
    lin = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        lin[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    (reg,) = build_regularizers(lin, orth=0.5)
    # raw weights of a plain layer: WWᵀ − I = [[0, 1], [1, 1]] → 3, times 0.5
    assert float(reg()) == pytest.approx(1.5)

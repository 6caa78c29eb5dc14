"""hpn-sgd -o official=true replays the official prototype script (psmmettes/hpn prototypes.py):
randn start under torch.manual_seed, a new SGD(lr, momentum) every epoch, renormalise, last
iterate. The reference below is that loop written out with torch.optim.SGD itself."""

import numpy as np
import pytest
import torch

from protogen.errors import InputError
from protogen.solvers import solve


def _official_reference(k, d, seed, epochs, lr=0.1, momentum=0.9):
    torch.manual_seed(seed)
    prototypes = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(k, d), p=2, dim=1))
    for _ in range(epochs):
        optimizer = torch.optim.SGD([prototypes], lr=lr, momentum=momentum)
        product = torch.matmul(prototypes, prototypes.t()) + 1
        product -= 2.0 * torch.diag(torch.diag(product))
        loss = product.max(dim=1)[0].mean()
        loss.backward()
        optimizer.step()
        prototypes = torch.nn.Parameter(torch.nn.functional.normalize(prototypes, p=2, dim=1))
    return prototypes.detach().numpy()


def test_official_mode_matches_the_official_loop():
    got = solve(12, 5, "hpn-sgd", seed=7, progress=False, official=True, epochs=60)
    want = _official_reference(12, 5, seed=7, epochs=60)
    np.testing.assert_allclose(got.prototypes, want, atol=2e-6)
    assert got.params["official"] is True and got.params["dtype"] == "float32"


def test_official_defaults_and_ours_differ_as_documented():
    official = solve(6, 3, "hpn-sgd", progress=False, official=True, time_limit=0.5)
    assert official.params["epochs"] == 10_000
    ours = solve(6, 3, "hpn-sgd", progress=False, epochs=50)
    assert ours.params["dtype"] == "float64" and ours.params["official"] is False
    with pytest.raises(InputError, match="dtype"):
        solve(6, 3, "hpn-sgd", progress=False, dtype="float16")

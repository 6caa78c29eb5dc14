"""auto's choice of solver by size, the neighbour-list solver in the registry, --device."""

import pytest

from cli_helpers import assert_one_line_error
from protogen.errors import ResourceError
from protogen.solvers import solve
from protogen.solvers.registry import (SOLVERS, GradientParams, NeighbourParams, auto_delegate,
                                       auto_memory)


def test_auto_delegates_by_size():
    assert auto_delegate(10_000, 128, GradientParams())[0].name == "neighbours"
    assert auto_delegate(1000, 64, GradientParams())[0].name == "neighbours"
    assert auto_delegate(100, 25, GradientParams())[0].name == "gradient"
    solver, params = auto_delegate(10_000, 128, GradientParams(device="cuda"))
    assert solver.name == "neighbours" and params.device == "cuda"
    assert auto_delegate(10_000, 128, GradientParams(iterations=10))[0].name == "gradient"


def test_auto_memory_follows_the_neighbour_algorithm():
    from protogen.solvers.neighbours import estimate_memory_bytes

    # The dense estimate refused 10^7 x 512 at "1831 GiB"; the neighbour estimate is O(K (D + k)).
    need = auto_memory(10**7, 512, GradientParams())
    assert need == estimate_memory_bytes(10**7, 512, 32, None)
    assert SOLVERS["neighbours"].memory(100_000, 512, NeighbourParams()) < 8 * 2**30
    with pytest.raises(ResourceError, match="GiB"):
        solve(10**7, 512, progress=False)


def test_neighbours_method_through_solve():
    result = solve(3000, 16, "neighbours", progress=False, iterations=40, polish_iterations=10,
                   device="cpu")
    assert result.method == "neighbours" and result.params["k"] == 64
    from protogen.sphere import min_angle_deg

    assert min_angle_deg(result.prototypes) == pytest.approx(result.metadata["min_angle_deg"],
                                                             abs=1e-9)


def test_cli_device(run):
    import torch

    if not torch.cuda.is_available():
        assert_one_line_error(run("solve", "-k", "20", "-d", "4", "--method", "gradient",
                                  "--device", "cuda"), "CUDA")
    assert_one_line_error(run("solve", "-k", "20", "-d", "4", "--method", "evolutionary",
                              "--device", "cpu"), "device")
    r = run("solve", "-k", "20", "-d", "4", "--method", "gradient", "--device", "auto", "-q",
            "-o", "iterations=50")
    assert r.exit_code == 0, r.output

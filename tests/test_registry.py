"""The solver registry: declared parameters, their validation, Result.params, CLI wiring."""

from __future__ import annotations

import dataclasses

import pytest
from cli_helpers import assert_one_line_error

from protogen.errors import InputError, ResourceError
from protogen.io import load_prototypes, save_result
from protogen.solvers import solve
from protogen.solvers.params import NoParams, param, validate
from protogen.solvers.registry import (SOLVERS, EvolutionParams, GradientParams, Solver,
                                       evolution_memory, register)


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(InputError) as err:
        solve(5, 3, "gradient", itrations=10)
    message = str(err.value)
    assert "itrations" in message and "\n" not in message
    for name in (f.name for f in dataclasses.fields(GradientParams)):
        assert name in message
    with pytest.raises(InputError, match="valid options: none"):
        solve(5, 3, "closed-form", population=3)
    with pytest.raises(InputError, match="unknown method 'magic'"):
        solve(5, 3, method="magic")


@pytest.mark.parametrize("method, options, fragment", [
    ("gradient", {"lr": -0.1}, "lr must be > 0"),
    ("gradient", {"lr": 0}, "lr must be > 0"),
    ("gradient", {"iterations": 2.5}, "iterations must be an integer"),
    ("gradient", {"iterations": True}, "iterations must be an integer"),
    ("gradient", {"restarts": 0}, "restarts must be >= 1"),
    ("gradient", {"dtype": "float16"}, "one of float64, float32"),
    ("gradient", {"lr": "fast"}, "lr must be a number"),
    ("gradient", {"lr": float("nan")}, "finite"),
    ("hpn-sgd", {"momentum": 1.0}, "momentum must be >= 0 and < 1"),
    ("evolutionary", {"parent_fraction": 0.0}, "parent_fraction must be > 0 and <= 1"),
    ("evolutionary", {"population": None}, "cannot be None"),
    ("energy", {"half_space": "yes"}, "true or false"),
    ("memetic", {"backend": "cuda"}, "one of numba, numpy"),
])
def test_out_of_range_or_wrong_type_is_one_line(method, options, fragment):
    with pytest.raises(InputError) as err:
        solve(6, 3, method, progress=False, **options)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_validate_converts_and_keeps_defaults():
    p = validate("gradient", GradientParams, {"lr": 1, "iterations": 7, "restarts": None})
    assert p.lr == 1.0 and isinstance(p.lr, float) and p.iterations == 7
    assert p == dataclasses.replace(GradientParams(), lr=1.0, iterations=7)


def test_a_type_error_inside_a_solver_stays_a_bug(monkeypatch):
    def broken(num, dim, p, **hooks):
        raise TypeError("broken() got an unexpected keyword argument 'oops'")

    monkeypatch.setitem(SOLVERS, "broken", Solver("broken", broken, NoParams,
                                                  lambda n, d, p: 0))
    with pytest.raises(TypeError, match="oops") as err:
        solve(5, 3, "broken")
    assert not isinstance(err.value, InputError)


def test_register_adds_one_entry_and_refuses_a_duplicate(monkeypatch):
    monkeypatch.setattr("protogen.solvers.registry.SOLVERS", dict(SOLVERS))
    from protogen.solvers import registry

    @dataclasses.dataclass(frozen=True)
    class ScaleParams:
        scale: float = param(1.0, low=0, low_open=True)

    def run_scaled(num, dim, p, *, seed, **hooks):
        from protogen.result import Result
        from protogen.solvers.closed_form import cross_polytope

        return Result(p.scale * cross_polytope(num, dim), method="scaled", seed=seed,
                      params={"scale": p.scale})

    register(Solver("scaled", run_scaled, ScaleParams, lambda n, d, p: 8 * n * d))
    r = solve(4, 3, "scaled", scale=2)
    assert r.params == {"scale": 2.0} and r.prototypes[0, 0] == 2.0
    with pytest.raises(ValueError, match="already registered"):
        register(Solver("scaled", run_scaled, ScaleParams, lambda n, d, p: 0))


def test_result_params_are_the_defaults_plus_overrides(tmp_path):
    overrides = dict(population=30, generations=2, offspring_per_pair=4, mutation_rate=0.05)
    r = solve(6, 3, "evolutionary", seed=1, progress=False, time_limit=60, **overrides)
    want = {k: v for k, v in dataclasses.asdict(EvolutionParams(**overrides)).items()
            if v is not None}
    want["time_limit"] = 60
    assert r.params == want
    pset = load_prototypes(save_result(r, tmp_path / "ea.h5"))
    assert pset.params == want
    # None ("the solver chooses") is replaced by the value the solver chose
    r = solve(20, 5, "gradient", seed=0, progress=False, iterations=40, restarts=1)
    assert r.params["polish_iterations"] == 20 and r.params["iterations"] == 40
    assert r.params["lr"] == GradientParams().lr and "chunk_size" not in r.params


def test_memory_estimate_uses_the_validated_parameters():
    p = EvolutionParams(population=10, chunk_size=8)
    assert evolution_memory(7, 3, p) == 4 * 7 * 3 * (2 * 10 + 8) + 8 * 7 * 7 * 4
    solve(50, 4, "evolutionary", population=8, generations=0, progress=False)  # small: fine
    with pytest.raises(ResourceError, match="GiB"):
        solve(50, 4, "evolutionary", population=10**12, generations=0)


# ---------------------------------------------------------------------------- CLI
def test_cli_method_choices_and_help_come_from_the_registry(run):
    r = run("solve", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for solver in SOLVERS.values():
        assert solver.name in text


@pytest.mark.parametrize("options, fragments", [
    (["-o", "populaton=5", "-m", "evolutionary"], ["populaton", "population", "generations"]),
    (["-o", "lr=-1", "-m", "gradient"], ["lr must be > 0"]),
    (["-o", "iterations=ten"], ["iterations must be an integer"]),
    (["--hierarchy", "cifar100"], ["--names"]),
])
def test_cli_bad_options_one_line_exit_2(run, tmp_path, options, fragments):
    assert_one_line_error(run("solve", "--classes", 8, "--dim", 3, "--quiet", *options),
                          *fragments)
    assert not list(tmp_path.glob("*.h5"))


def test_cli_option_values_are_typed_and_none_means_the_solvers_choice():
    from protogen.cli.solve import parse_options

    got = parse_options(("iterations=30", "lr=0.5", "half-space=true", "restarts=none",
                         "device=cpu"))
    assert got == {"iterations": 30, "lr": 0.5, "half_space": True, "restarts": None,
                   "device": "cpu"}
    p = validate("gradient", GradientParams, {k: v for k, v in got.items() if k != "half_space"})
    assert p.restarts is None and p.iterations == 30

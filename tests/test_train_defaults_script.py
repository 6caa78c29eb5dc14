"""benchmarks/train_defaults.py: the recipe search's core loop, schedules and section writer."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_defaults.py"


@pytest.fixture(scope="module")
def td():
    spec = importlib.util.spec_from_file_location("train_defaults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the script executes
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_core_loop_one_epoch_every_candidate(td):
    import torch

    torch.set_num_threads(1)
    rows = []
    results = td.run_grid(["digits-mlp"], list(td.RECIPES), seeds=(0,), epochs=1,
                          limit_train=200, on_result=rows.append, progress=False)
    assert set(results) == {("digits-mlp", r, h) for r in td.RECIPES for h in td.HEADS}
    for accs in results.values():
        assert len(accs) == 1 and 0.0 <= accs[0] <= 1.0
    assert len(rows) == len(results)
    assert {r["train"] for r in rows} == {200} and {r["test"] for r in rows} == {450}
    # Same seed, same recipe: the same network and the same accuracy.
    again = td.run_grid(["digits-mlp"], ["adamw-1e-3-mean-cos"], ["prototype"], seeds=(0,),
                        epochs=1, limit_train=200, progress=False)
    key = ("digits-mlp", "adamw-1e-3-mean-cos", "prototype")
    assert again[key] == results[key]


def test_simplex_prototypes_are_the_regular_simplex(td):
    p = td.simplex_prototypes(10)
    gram = p @ p.T
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-12)
    off = gram[~np.eye(10, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / 9.0, atol=1e-12)


def test_learning_rate_factors(td):
    cos = td.Recipe("adamw", 1e-3, "cosine", "mean", 0.0, warmup=0.1)
    total = 100
    # Linear warm-up over 10 steps: 0.1, 0.2, ..., 1.0, then cosine from 1 towards 0.
    assert [td.lr_factor(cos, s, total, 10, 10) for s in (0, 4, 9)] == pytest.approx(
        [0.1, 0.5, 1.0])
    assert td.lr_factor(cos, 10, total, 10, 10) == pytest.approx(1.0)
    assert td.lr_factor(cos, 55, total, 10, 10) == pytest.approx(0.5)
    assert td.lr_factor(cos, 99, total, 10, 10) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 89 / 90)))
    step = td.Recipe("sgd", 0.01, "multistep", "mean", 1e-4)
    # 10 epochs of 5 steps: x0.1 from epoch 4 (40 %) and x0.01 from epoch 8 (80 %).
    factors = [td.lr_factor(step, s, 50, 5, 10) for s in (0, 19, 20, 39, 40, 49)]
    assert factors == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_replace_section_keeps_the_rest(td, tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\nother section\n")
    first = f"{td.BEGIN}\none\n{td.END}"
    td.replace_section(path, first)
    assert path.read_text() == f"# Benchmark results\n\nother section\n\n{first}\n"
    td.replace_section(path, f"{td.BEGIN}\ntwo\n{td.END}")
    assert path.read_text() == f"# Benchmark results\n\nother section\n\n{td.BEGIN}\ntwo\n{td.END}\n"


def test_sklearn_tables_go_through_the_npz_loader(td):
    from protogen.train.data import load_dataset

    spec = td.resolve_spec("sklearn:wine")
    assert spec.startswith("npz:") and td.resolve_spec("digits") == "digits"
    data = load_dataset(spec)
    # UCI wine: 178 rows, 13 raw features (proline in the hundreds), 3 cultivars; 25 % test.
    assert len(data.train) + len(data.test) == 178 and len(data.test) == 45
    assert data.input_shape == (1, 1, 13) and data.num_classes == 3
    assert data.train.x.max() > 100

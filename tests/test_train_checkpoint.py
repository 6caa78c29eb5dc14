"""checkpoint.pt runs no code: crafted checkpoints are refused by evaluate and resume (exit 2,
one line, no marker file, nothing written), benign ones still evaluate and resume exactly, the
RNG states survive the restricted loader, and checkpoints of the previous layout still load."""

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error

from protogen.errors import FileFormatError
from protogen.train import TrainConfig, load_checkpoint, read_metrics, train
from protogen.train.checkpoint import rng_state, set_rng_state


class _Shell:
    """Unpickled by a full pickle loader, this runs ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _small(**kw):
    base = dict(dataset="digits", prototypes="onehot", limit_train=96, limit_test=40, epochs=2,
                batch_size=32, seed=4, threads=1, milestones=[1])
    base.update(kw)
    return TrainConfig(**base)


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _plant(path: Path, where: str, marker: Path) -> None:
    ckpt = torch.load(path, weights_only=True)
    if where == "top":
        ckpt["note"] = _Shell(marker)
    elif where == "rng":
        ckpt["rng"]["numpy"]["pos"] = _Shell(marker)
    else:  # hidden among the network's tensors
        ckpt["net"][next(iter(ckpt["net"]))] = _Shell(marker)
    torch.save(ckpt, path)


@pytest.mark.parametrize("where", ["top", "rng", "net"])
def test_crafted_checkpoint_is_refused_by_evaluate_and_resume(run, tmp_path, where):
    run_dir = tmp_path / "run"
    train(_small(), run_dir, progress=False, log=None, stop_after=1)   # interrupted after 1
    ckpt_path = run_dir / "checkpoint.pt"
    benign = ckpt_path.read_bytes()
    marker = tmp_path / "marker"
    _plant(ckpt_path, where, marker)
    before = _snapshot(run_dir)
    assert_one_line_error(run("evaluate", "run"), "posix.system", "refused")
    assert_one_line_error(run("train", "--out", "run", "--resume", "--quiet"), "posix.system",
                          "refused")
    assert not marker.exists()
    assert _snapshot(run_dir) == before          # nothing new written, nothing changed
    with pytest.raises(FileFormatError, match="could run code"):
        load_checkpoint(run_dir)
    # the crafted file is a real door: a full unpickler runs the command
    torch.load(ckpt_path, weights_only=False)
    assert marker.exists()
    # the benign checkpoint still evaluates and resumes to the end
    ckpt_path.write_bytes(benign)
    r = run("evaluate", "run", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["epoch"] == 1
    r = run("train", "--out", "run", "--resume", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["epoch"] == 2 and (run_dir / "report.json").exists()


def test_checkpoint_is_only_tensors_and_plain_values(tmp_path):
    train(_small(epochs=1), tmp_path / "run", progress=False, log=None)
    path = tmp_path / "run" / "checkpoint.pt"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    plain = (torch.Tensor, int, float, str, bool, type(None))

    def leaves(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                assert isinstance(k, (str, int)), k
                yield from leaves(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                yield from leaves(v)
        else:
            yield obj

    ckpt = torch.load(path, weights_only=True)
    bad = [type(x) for x in leaves(ckpt) if not isinstance(x, plain)]
    assert bad == []
    assert ckpt["format"] == 2 and ckpt["epoch"] == 1


def test_rng_states_round_trip_through_the_restricted_loader(tmp_path):
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    np.random.normal()        # leaves a cached Gaussian in numpy's legacy state
    random.gauss(0, 1)        # and in Python's

    def draw():
        return (torch.rand(5).tolist(), np.random.normal(size=3).tolist(),
                np.random.randint(0, 10**9, 3).tolist(), [random.random(), random.gauss(0, 1)])

    torch.save(rng_state(), tmp_path / "rng.pt")
    first = draw()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draw() == first
    assert draw() != first    # the states moved on: the equality above is not trivial


def _to_previous_layout(path: Path) -> None:
    """Rewrite a checkpoint as the previous release wrote it: numpy's and Python's RNG states
    as the tuples their get_state returns (a pickled numpy array), no format mark."""
    ckpt = torch.load(path, weights_only=True)
    n, p = ckpt["rng"]["numpy"], ckpt["rng"]["python"]
    ckpt["rng"]["numpy"] = ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                            n["has_gauss"], n["cached_gaussian"])
    ckpt["rng"]["python"] = (p["version"], tuple(p["state"].tolist()), p["gauss_next"])
    del ckpt["format"]
    torch.save(ckpt, path)


def test_checkpoint_of_the_previous_layout_still_resumes_exactly(run, tmp_path):
    cfg = _small(loss="ncm", prototypes=None, dim=4, epochs=3, milestones=[2])
    full = train(cfg, tmp_path / "full", progress=False, log=None)
    train(cfg, tmp_path / "part", progress=False, log=None, stop_after=1)
    _to_previous_layout(tmp_path / "part" / "checkpoint.pt")
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "part" /
                                                                  "checkpoint.pt")
    assert any("_reconstruct" in g for g in unsafe)   # the old layout needs numpy's pickling
    r = run("evaluate", str(tmp_path / "part"), "--json")
    assert r.exit_code == 0, r.output
    resumed = train(None, tmp_path / "part", resume=True, progress=False, log=None)
    a, b = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "part")
    for k in a["net"]:
        assert torch.equal(a["net"][k], b["net"][k]), k
    drop = ("train_time_s", "epoch_time_s", "examples_per_s")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in drop} for r in rows]  # noqa
    assert strip(read_metrics(tmp_path / "full")) == strip(read_metrics(tmp_path / "part"))
    assert resumed["confusion_matrix"] == full["confusion_matrix"]


def test_loadable_but_wrong_checkpoints_are_one_line_errors(run, tmp_path):
    train(_small(epochs=1), tmp_path / "run", progress=False, log=None)
    path = tmp_path / "run" / "checkpoint.pt"
    good = torch.load(path, weights_only=True)
    for bad, match in [({"net": {}, "epoch": "one"}, "not a protogen checkpoint"),
                       ({**good, "net": {"w": [1.0]}}, "dict of tensors"),
                       ({k: v for k, v in good.items() if k != "rng"}, "no rng state"),
                       ({**good, "rng": {**good["rng"], "torch": torch.zeros(3)}},
                        "training state")]:
        torch.save(bad, path)
        assert_one_line_error(run("train", "--out", "run", "--resume", "--quiet"), match)

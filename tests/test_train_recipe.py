"""Issue 14's trainer features: the paper's recipe one flag away, the loss reduction, the
cosine schedule, augmentation, data formats, name matching, baselines and user models."""

import json
import math

import numpy as np
import pytest
import torch

from cli_helpers import assert_one_line_error
from data_fixtures import make_cifar100, make_idx
from protogen.errors import InputError
from protogen.train import TrainConfig
from protogen.train.build import cosine_factor, match_by_name
from protogen.train.heads import MultiTaskHead, NCMHead


def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())["config"]


def test_recipe_hpn_sets_the_paper_settings_and_explicit_flags_win():
    c = TrainConfig(lr=0.05, epochs=3).with_recipe("hpn", explicit={"epochs"})
    assert (c.optimizer, c.lr, c.momentum, c.weight_decay, c.batch_size) == \
        ("sgd", 0.01, 0.9, 1e-4, 128)
    assert (c.reduction, c.schedule, c.gamma, c.augment, c.epochs) == \
        ("sum", "step", 0.1, "auto", 3)
    assert c.resolved().milestones == [1, 2]  # 40 % and 80 %, as 100 and 200 of 250
    assert TrainConfig().with_recipe("hpn").resolved().milestones == [100, 200]
    with pytest.raises(InputError, match="unknown recipe"):
        TrainConfig().with_recipe("nope")


def test_cli_recipe_and_reduction(run, tmp_path):
    r = run("train", "-p", "onehot", "--recipe", "hpn", "--epochs", "1", "--limit-train", "64",
            "--limit-test", "32", "--out", "r1", "--quiet")
    assert r.exit_code == 0, r.output
    c = _config(tmp_path / "r1")
    assert (c["recipe"], c["reduction"], c["epochs"], c["lr"]) == ("hpn", "sum", 1, 0.01)
    r = run("train", "--loss", "softmax", "--reduction", "sum", "--out", "r2")
    assert_one_line_error(r, "--reduction applies to the prototype losses")
    assert not (tmp_path / "r2").exists()


def test_sum_reduction_trains_with_b_times_the_mean_gradient(run, tmp_path):
    """One epoch of one batch: with plain SGD (no momentum, no decay) the sum-reduced step is
    B times the mean-reduced step, so the weights move B times as far."""
    moved = {}
    for red in ("sum", "mean"):
        r = run("train", "-p", "onehot", "--reduction", red, "--epochs", "1", "--limit-train",
                "32", "--batch-size", "32", "--optimizer", "sgd", "--schedule", "step",
                "--momentum", "0", "--weight-decay", "0",
                "--lr", "1e-4", "--out", red, "--quiet")
        assert r.exit_code == 0, r.output
        from protogen.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(tmp_path / red)
        moved[red] = ckpt["net"]
    from protogen.train.models import MLP

    torch.manual_seed(0)
    start = MLP((1, 8, 8), 10).state_dict()  # the run's seed-0 initialisation
    key = "model.net.1.weight"
    d_sum = moved["sum"][key] - start["net.1.weight"]
    d_mean = moved["mean"][key] - start["net.1.weight"]
    # float32 weights round each update: compare the step as a whole, then element-wise
    # within a few ulps of the weights.
    assert float(d_sum.norm() / d_mean.norm()) == pytest.approx(32.0, rel=1e-3)
    assert float((d_sum - 32 * d_mean).norm() / d_sum.norm()) < 1e-3


def test_cosine_factor_is_the_hand_formula():
    f = cosine_factor(100, 10)
    assert [f(s) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert f(10) == 1.0
    assert f(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert f(100) == pytest.approx(0.0, abs=1e-12)


def test_cosine_schedule_reaches_zero_by_the_last_step(run, tmp_path):
    r = run("train", "-p", "onehot", "--schedule", "cosine", "--warmup", "1", "--epochs", "3",
            "--limit-train", "64", "--batch-size", "16", "--optimizer", "adam", "--out", "c",
            "--quiet")
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    # lr logged at the end of each epoch: warm-up done after epoch 1, then cosine over 8 steps.
    f = cosine_factor(12, 4)
    assert [row["lr"] for row in rows] == pytest.approx([1e-3 * f(s) for s in (4, 8, 12)])


def test_cifar100_official_layout_with_resnet32_augmentation_and_coarse_labels(run, tmp_path):
    make_cifar100(tmp_path / "data")
    r = run("train", "--dataset", f"cifar100:{tmp_path / 'data'}", "--model", "resnet32",
            "-p", "onehot", "--loss", "softmax", "--hierarchy", "dataset", "--epochs", "1",
            "--batch-size", "64", "--out", "c100", "--quiet", "--json")
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "c100" / "config.json").read_text())
    assert saved["config"]["augment"] == "auto"
    assert saved["resolved"]["class_names"][:2] == ["class0", "class1"]
    assert saved["resolved"]["dataset_info"]["hierarchy"]["group19"][-1] == "class99"


def test_idx_dataset_trains(run, tmp_path):
    make_idx(tmp_path / "fm", n_train=40, n_test=20, gz=True)
    r = run("train", "--dataset", f"idx:{tmp_path / 'fm'}", "-p", "onehot", "--epochs", "1",
            "--out", "i", "--quiet")
    assert r.exit_code == 0, r.output


def test_prototypes_matched_by_class_name():
    protos = np.eye(3)
    got = match_by_name(protos, ["cat", "dog", "emu"], ["emu", "cat", "dog"], "f.h5", "d")
    np.testing.assert_array_equal(got, protos[[2, 0, 1]])
    with pytest.raises(InputError, match="no prototype for class 'yak'"):
        match_by_name(protos, ["cat", "dog", "emu"], ["cat", "dog", "yak"], "f.h5", "d")


def test_cli_matches_a_reordered_prototype_file(run, tmp_path):
    from protogen.io import save_prototypes
    from protogen.train.data import load_dataset

    names = load_dataset("digits").class_names
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(10, 6))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    order = rng.permutation(10)
    save_prototypes(tmp_path / "p.h5", protos[order], class_names=[names[i] for i in order])
    r = run("train", "-p", "p.h5", "--epochs", "1", "--limit-train", "64", "--out", "m",
            "--quiet")
    assert r.exit_code == 0, r.output
    from protogen.train.checkpoint import load_checkpoint

    got = load_checkpoint(tmp_path / "m")["net"]["head.prototypes"].numpy()
    np.testing.assert_allclose(got, protos, atol=1e-6)  # back in the data set's order
    save_prototypes(tmp_path / "q.h5", protos, class_names=names[:9] + ["yak"])
    r = run("train", "-p", "q.h5", "--epochs", "1", "--out", "q")
    assert_one_line_error(r, "no prototype for class")
    assert not (tmp_path / "q").exists()


def test_multitask_head_is_ce_plus_squared_loss():
    head = MultiTaskHead(3, 0.0, 10.0, weights=(2.0, 0.5))
    out = torch.tensor([[1.0, 0.0, -1.0, 0.3], [0.0, 2.0, 0.0, 0.9]])
    labels, values = torch.tensor([0, 1]), torch.tensor([5.0, 8.0])
    ce = torch.nn.functional.cross_entropy(out[:, :3], labels)
    sq = ((0.3 - 0.5) ** 2 + (0.9 - 0.8) ** 2) / 2
    assert head.loss(out, (labels, values)).item() == pytest.approx(2 * ce.item() + 0.5 * sq)
    cls, val = head.predict(out)
    assert cls.tolist() == [0, 1] and val.tolist() == pytest.approx([3.0, 9.0])


def test_cli_multitask_joint_baseline(run, tmp_path):
    r = run("train", "--dataset", "rotated-digits", "--task", "joint", "--loss", "multitask",
            "--model", "cnn", "--epochs", "1", "--limit-train", "128", "--out", "mt", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "mt" / "report.json").read_text())["mae"] > 0


def test_ncm_online_and_condensation_means_by_hand():
    online = NCMHead(2, 2, mean="online")
    online.loss(torch.tensor([[2.0, 0.0], [4.0, 0.0]]), torch.tensor([0, 0]))
    online.loss(torch.tensor([[6.0, 3.0]]), torch.tensor([0]))
    assert online.means[0].tolist() == [4.0, 1.0]  # mean of all three outputs
    cond = NCMHead(2, 2, mean="condensation")
    cond.loss(torch.tensor([[2.0, 0.0], [4.0, 0.0]]), torch.tensor([0, 0]))
    cond.start_epoch(1)  # the epoch's two outputs now weigh as one example
    cond.loss(torch.tensor([[6.0, 3.0]]), torch.tensor([0]))
    assert cond.means[0].tolist() == [4.5, 1.5]  # (3 + 6) / 2, (0 + 3) / 2


def test_user_model_from_the_command_line(run, tmp_path):
    (tmp_path / "mynet_cli_test.py").write_text(
        "import torch.nn as nn\n"
        "def build(out_dim, input_shape):\n"
        "    c, h, w = input_shape\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, out_dim))\n"
        "def bad(out_dim):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))\n")
    r = run("train", "-p", "onehot", "--model", "mynet_cli_test:build", "--epochs", "1",
            "--limit-train", "64", "--out", "u", "--quiet")
    assert r.exit_code == 0, r.output
    r = run("train", "-p", "onehot", "--model", "mynet_cli_test:bad", "--out", "v")
    assert_one_line_error(r, "outputs (3,) per example")
    assert not (tmp_path / "v").exists()


def test_a_saved_user_model_is_not_imported_without_permission(run, tmp_path):
    """A run directory names its model; rebuilding a module:callable one imports code, so
    evaluate/resume ask for --allow-model-import (a file from elsewhere cannot grant it)."""
    marker = tmp_path / "imported"
    (tmp_path / "mynet_guard_test.py").write_text(
        "import pathlib, torch.nn as nn\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "def build(out_dim):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, out_dim))\n")
    r = run("train", "-p", "onehot", "--model", "mynet_guard_test:build", "--epochs", "2",
            "--limit-train", "64", "--out", "u", "--quiet")
    assert r.exit_code == 0, r.output
    import sys

    sys.modules.pop("mynet_guard_test", None)
    marker.unlink()
    assert_one_line_error(run("evaluate", "u"), "--allow-model-import")
    assert_one_line_error(run("train", "--resume", "--out", "u"), "--allow-model-import")
    assert not marker.exists()
    r = run("evaluate", "u", "--allow-model-import", "--json")
    assert r.exit_code == 0, r.output
    assert marker.exists()


def test_tabular_inputs_are_standardised_per_feature(run, tmp_path):
    """Features in unrelated units: each is standardised by its own mean and std (saved in the
    run), so evaluate reproduces the run and a feature's scale does not drown the others."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = np.column_stack([rng.normal(y, 0.3) * 1000.0 + 5e4, rng.normal(-y, 0.3) * 0.001,
                         np.full(120, 7.0)])
    np.savez(tmp_path / "tab.npz", x=x, y=y)
    r = run("train", "--dataset", "npz:tab.npz", "-p", "onehot", "--epochs", "20", "--out", "t",
            "--quiet", "--json")
    assert r.exit_code == 0, r.output
    resolved = json.loads((tmp_path / "t" / "config.json").read_text())["resolved"]
    from protogen.train.data import load_dataset

    train_x = load_dataset(f"npz:{tmp_path / 'tab.npz'}").train.x.reshape(-1, 3)
    np.testing.assert_allclose(resolved["input_mean"], train_x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(resolved["input_std"][:2], train_x.std(axis=0)[:2], rtol=1e-5)
    assert resolved["input_std"][2] == 1.0  # the constant feature
    report = json.loads(r.output)
    assert report["accuracy"] > 0.9
    again = run("evaluate", "t", "--json")
    assert json.loads(again.output)["accuracy"] == report["accuracy"]

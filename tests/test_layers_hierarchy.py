"""Hierarchical regularisation (seed 003): files, metrics, STE, regulariser, trainer flags."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from protogen.cli import main
from protogen.data import read_class_names
from protogen.errors import FileFormatError, InputError
from protogen.layers import build_regularizers
from protogen.layers.hierarchy import (HierarchicalLinear, HierarchyRegularizer, SignSTE,
                                       decompose, hierarchical_regularization, load_hierarchy,
                                       pairwise_distances, sign_ste)


# ---------------------------------------------------------------------------- files
def test_bundled_cifar100_hierarchy_covers_the_class_list():
    h = load_hierarchy("cifar100")
    names = read_class_names("cifar100")
    ids, groups = h.group_ids(names)
    assert len(groups) == 20 and np.all(np.bincount(ids) == 5)
    assert h.parent["maple_tree"] == "trees" and h.parent["aquarium_fish"] == "fish"


def test_csv_and_json_give_the_same_tree(tmp_path):
    (tmp_path / "h.csv").write_text("super,sub\nanimal,cat\nanimal,dog\nthing,cup\n")
    (tmp_path / "h.json").write_text(json.dumps({"animal": ["cat", "dog"], "thing": ["cup"]}))
    a, b = load_hierarchy(str(tmp_path / "h.csv")), load_hierarchy(str(tmp_path / "h.json"))
    assert a.children == b.children == {"animal": ["cat", "dog"], "thing": ["cup"]}
    ids, groups = a.group_ids(["dog", "cup", "cat"])
    assert list(ids) == [0, 1, 0] and groups == ["animal", "thing"]


@pytest.mark.parametrize("content,suffix,error,match", [
    ('{"a": ["x", "y"], "b": ["y"]}', "json", FileFormatError, "duplicate class 'y'"),
    ('{"a": ["x", "x"]}', "json", FileFormatError, "duplicate class 'x'"),
    ('{"a": ["b"], "b": ["a"]}', "json", FileFormatError, "cycle"),
    ('{"a": ["b"], "b": ["c"], "c": ["a"]}', "json", FileFormatError, "cycle"),
    ("a,x\nb,x\n", "csv", FileFormatError, "duplicate class 'x'"),
    ("a,x,y\n", "csv", FileFormatError, "line 1"),
    ('{"a": ["x"', "json", FileFormatError, "invalid JSON"),
    ('["x"]', "json", FileFormatError, "JSON object"),
])
def test_bad_hierarchy_files_fail_with_one_line(tmp_path, content, suffix, error, match):
    path = tmp_path / f"h.{suffix}"
    path.write_text(content)
    with pytest.raises(error, match=match) as exc:
        load_hierarchy(str(path))
    assert "\n" not in str(exc.value)


def test_unknown_and_missing_classes(tmp_path):
    h = load_hierarchy({"animal": ["cat", "dog"], "thing": ["cup"]})
    with pytest.raises(InputError, match="unknown classes dog") as exc:
        h.group_ids(["cat", "cup"])
    assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="without a super-class: bird"):
        h.group_ids(["cat", "dog", "cup", "bird"])
    with pytest.raises(InputError, match="no such file"):
        load_hierarchy(str(tmp_path / "nope.json"))


def test_cli_bad_hierarchy_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ["apple"], "b": ["apple"]}')
    res = CliRunner().invoke(main, ["solve", "--names", "cifar100", "--dim", "5", "--hierarchy",
                                    str(bad), "--out", str(tmp_path / "p.h5"), "--quiet"])
    assert res.exit_code == 2
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and "duplicate class 'apple'" in lines[0]


# ---------------------------------------------------------------------------- metrics / STE
def test_sign_ste_forward_and_saturated_backward():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.0, 1.5], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1, -1, 1, 1, 1, 1]
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 0]        # 1_{|x| <= 1}
    # the gradient passes through sign unchanged inside the window
    x2 = torch.tensor([0.2, -0.7], requires_grad=True)
    (sign_ste(x2) * torch.tensor([3.0, -5.0])).sum().backward()
    assert x2.grad.tolist() == [3.0, -5.0]
    assert SignSTE.apply(torch.tensor([0.0])).item() == 1


def test_metrics_hand_values():
    u = torch.tensor([1.0, -2.0, 3.0, -4.0])
    v = torch.tensor([1.0, 2.0, 3.0, 4.0])
    x = torch.stack([u, v]).double()
    cos = float(u @ v / (u.norm() * v.norm()))           # (1 - 4 + 9 - 16)/30 = -1/3
    theta = math.acos(cos) / math.pi
    theta_dh = 0.5                                       # signs agree in 2 of 4 → D_h = 0
    want = {"continuous": theta, "discrete": theta_dh, "am": (theta + theta_dh) / 2,
            "gm": math.sqrt(theta * theta_dh),
            "hm": 2 * theta * theta_dh / (theta + theta_dh)}
    for metric, value in want.items():
        assert float(pairwise_distances(x, metric)[0, 1]) == pytest.approx(value, abs=1e-6)
    # the continuous metric clamps cosines to ±0.99 (§3.3)
    same = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    assert float(pairwise_distances(same, "continuous")[0, 1]) == pytest.approx(
        math.acos(0.99) / math.pi)
    with pytest.raises(InputError, match="unknown hierarchy metric"):
        pairwise_distances(x, "l2")


def test_gradcheck_continuous_metric_and_ste_chain():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: pairwise_distances(t, "continuous"), (x,))
    # the discrete metric's backward is the STE: the gradient of Σ D_h-based terms reaches x
    y = torch.randn(3, 4, dtype=torch.float64).mul(0.5).requires_grad_()
    pairwise_distances(y, "gm").sum().backward()
    assert torch.all(torch.isfinite(y.grad)) and float(y.grad.abs().sum()) > 0


# ---------------------------------------------------------------------------- regulariser
def test_decomposition_is_w_super_plus_w_sub():
    w = torch.randn(6, 3, dtype=torch.float64)
    ids = [0, 0, 1, 1, 1, 2]
    centers, subs = decompose(w, ids)
    torch.testing.assert_close(centers[torch.tensor(ids)] + subs, w)
    torch.testing.assert_close(centers[1], w[2:5].mean(0))
    layer = HierarchicalLinear(3, ids)
    torch.testing.assert_close(layer.weight, layer.centers[torch.tensor(ids)] + layer.subs)


def test_regularizer_equals_naive_formula():
    torch.manual_seed(0)
    centers = torch.randn(3, 4, dtype=torch.float64)
    subs = torch.randn(5, 4, dtype=torch.float64)
    ids = np.array([0, 0, 1, 1, 2])

    def d(a, b):
        c = float(a @ b / (a.norm() * b.norm()))
        return math.acos(max(-0.99, min(0.99, c))) / math.pi

    within = np.mean([1 - d(subs[0], subs[1]), 1 - d(subs[2], subs[3])])  # group 2: 1 member
    between = np.mean([1 - d(centers[a], centers[b]) for a, b in [(0, 1), (0, 2), (1, 2)]])
    got = hierarchical_regularization(centers, subs, ids, "continuous", constraint_weight=0.0)
    assert float(got) == pytest.approx(within + between, rel=1e-9)
    # constraints: C1 ‖sub‖ ≤ ‖centre‖, C3 ‖c_a − c_b‖ ≥ r_a + r_b, as hinges
    r = [max(float(subs[i].norm()) for i in np.flatnonzero(ids == g)) for g in range(3)]
    c1 = np.mean([max(0.0, float(subs[i].norm() - centers[ids[i]].norm())) for i in range(5)])
    c3 = np.mean([max(0.0, r[a] + r[b] - float((centers[a] - centers[b]).norm()))
                  for a, b in [(0, 1), (0, 2), (1, 2)]])
    full = hierarchical_regularization(centers, subs, ids, "continuous", constraint_weight=2.0)
    assert float(full) == pytest.approx(within + between + 2 * (c1 + c3), rel=1e-9)


def test_optimising_the_regularizer_separates_groups():
    torch.manual_seed(1)
    w = torch.nn.Parameter(torch.randn(8, 6))
    ids = [0, 0, 0, 0, 1, 1, 1, 1]
    reg = HierarchyRegularizer(w, ids, metric="am", weight=1.0)
    opt = torch.optim.Adam([w], lr=0.05)
    first = float(reg().detach())
    for _ in range(40):
        opt.zero_grad()
        reg().backward()
        opt.step()
    assert float(reg()) < first
    centers, _ = decompose(w.detach(), ids)
    assert float(torch.nn.functional.cosine_similarity(centers[0], centers[1], dim=0)) < 0


def test_build_regularizers_hierarchy_needs_names_and_weights():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    from protogen.train.heads import PrototypeHead, SoftmaxHead

    h = {"a": ["x", "y"], "b": ["z"]}
    head = SoftmaxHead(4, 3)
    (reg,) = build_regularizers(model, hierarchy=h, class_names=["x", "y", "z"], head=head,
                                hier_metric="hm")
    assert torch.isfinite(reg())
    with pytest.raises(InputError, match="class names"):
        build_regularizers(model, hierarchy=h, class_names=None, head=head)
    with pytest.raises(InputError, match="prototype head"):
        build_regularizers(model, hierarchy=h, class_names=["x", "y", "z"],
                           head=PrototypeHead(np.eye(3)))


# ---------------------------------------------------------------------------- trainer flags
DIGITS_HIERARCHY = ("loops,zero\nloops,six\nloops,eight\nloops,nine\nstrokes,one\nstrokes,four\n"
                    "strokes,seven\ncurves,two\ncurves,three\ncurves,five\n")


def test_train_cli_with_every_layers_flag(tmp_path):
    (tmp_path / "digits.csv").write_text(DIGITS_HIERARCHY)
    res = CliRunner().invoke(main, [
        "train", "--dataset", "digits", "--limit-train", "64", "--limit-test", "32",
        "--epochs", "1", "--batch-size", "32", "--model", "sphere-cnn", "--sphere-op",
        "learnable-sigmoid", "--loss", "ga-softmax", "--margin", "4", "--mhe",
        "s=2,hidden=1,output=1,half-space", "--orth", "1e-3", "--hierarchy",
        str(tmp_path / "digits.csv"), "--hier-metric", "hm", "--optimizer", "adam", "--device",
        "cpu", "--out", str(tmp_path / "run"), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{"):])
    conf = np.array(report["confusion_matrix"])  # accuracy is the confusion matrix's trace
    assert conf.sum() == 32 and np.trace(conf) == round(report["accuracy"] * 32)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert cfg["model_options"] == {"sphere_op": "learnable-sigmoid"}
    assert cfg["regularizers"]["mhe"] == "s=2,hidden=1,output=1,half-space"


@pytest.mark.parametrize("args,match", [
    (["--loss", "w-softmax", "--margin", "4"], "w-softmax has no margin"),
    (["--loss", "softmax", "--mhe", "s=two"], "expects a number"),
    (["--loss", "softmax", "--hierarchy", "cifar100"], "unknown classes"),
])
def test_train_cli_layer_errors_exit_2(tmp_path, args, match):
    res = CliRunner().invoke(main, ["train", "--dataset", "digits", "--limit-train", "32",
                                    "--limit-test", "16", "--epochs", "1", "--device", "cpu",
                                    "--out", str(tmp_path / "run"), "--quiet", *args])
    assert res.exit_code == 2
    lines = [line for line in res.output.strip().splitlines() if line]
    assert len(lines) == 1 and match in lines[0], res.output

"""Issue 15: the seed methods completed (MHE §3.6 data-dependent output term, DH2L metrics,
mini-batch hierarchy, energy term and HierarchicalLinear classifier, SphereNet's optimiser
groups, CNN-9 and CLI options), each against a hand computation."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from cli_helpers import assert_one_line_error
from protogen.distances import pairwise_distances, pairwise_similarity, parse_metric
from protogen.energies import riesz_energy
from protogen.errors import InputError
from protogen.layers import (HierarchicalSoftmaxHead, HierarchyRegularizer,
                             MetricEnergyRegularizer, build_regularizers, call_regularizer)
from protogen.layers.mhe import MHERegularizer, data_dependent_energy, parse_mhe_spec
from protogen.layers.sphereconv import SphereConv2d, cnn9, sphere_cnn9

D = torch.float64
# three unit neurons at 0, 90 and 180 degrees
W3 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=D)


# ------------------------------------------------------------------------------------ MHE
def test_data_dependent_output_energy_by_hand():
    labels = torch.tensor([0, 0, 2])
    # y = 0: j = 1 at chord sqrt 2, j = 2 at chord 2; y = 2: j = 0 at 2, j = 1 at sqrt 2.
    # s = 2: each sample gives 1/2 + 1/4; the mean over m (N - 1) = 3 * 2 terms.
    assert float(data_dependent_energy(W3, labels, 2.0)) == pytest.approx(3 * 0.75 / 6)
    # s = 1: 1/sqrt 2 + 1/2 per sample
    assert float(data_dependent_energy(W3, labels, 1.0)) == pytest.approx(
        3 * (1 / math.sqrt(2) + 0.5) / 6)
    # s = 0 (log energy, f_0(z) = log 1/z): log(1/sqrt 2) + log(1/2) per sample
    assert float(data_dependent_energy(W3, labels, 0.0)) == pytest.approx(
        3 * (-0.5 * math.log(2) - math.log(2)) / 6)
    # angular (A-MHE, Eq. 5, radians): 1/(pi/2) + 1/pi per sample, at s = 1
    assert float(data_dependent_energy(W3, labels, 1.0, angular=True)) == pytest.approx(
        3 * (2 / math.pi + 1 / math.pi) / 6, rel=1e-6)
    # a class that is absent from the batch (1) only enters as a j, and a batch of only
    # class 1 gives 1/2 (to 0) + 1/2 (to 2) over N - 1 = 2 at s = 2
    assert float(data_dependent_energy(W3, torch.tensor([1]), 2.0)) == pytest.approx(0.5)


def test_log_energy_constant_and_angular_scale_are_the_papers():
    pair = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=D)
    # Eq. 1: f_0(z) = log(1/z), chord sqrt 2 -> -log(2)/2 (the official -log z^2 is -log 2)
    assert float(riesz_energy(pair, 0.0, reduction="mean")) == pytest.approx(-0.5 * math.log(2))
    # Eq. 5: the angle in radians (pi/2), not divided by pi: s = 1 gives 2/pi
    assert float(riesz_energy(pair, 1.0, angular=True, reduction="mean")) == pytest.approx(
        2 / math.pi)


def test_mhe_output_mode_and_label_protocol():
    spec = parse_mhe_spec("s=2,output-mode=data,hidden=0")
    assert spec.output_mode == "data"
    with pytest.raises(InputError, match="output-mode"):
        parse_mhe_spec("output-mode=batch")
    w = W3.clone().requires_grad_()
    reg = MHERegularizer([], w, spec)
    assert reg.wants_labels
    labels = torch.tensor([0, 0, 2])
    assert float(call_regularizer(reg, labels).detach()) == pytest.approx(0.375)
    with pytest.raises(InputError, match="needs the mini-batch"):
        reg()
    full = MHERegularizer([], w, parse_mhe_spec("s=2,hidden=0"))
    assert not getattr(full, "wants_labels", False)
    # Eq. 4's full term: mean over the 3 pairs of 1/d^2: (1/2 + 1/4 + 1/2) / 3
    assert float(call_regularizer(full, labels).detach()) == pytest.approx(1.25 / 3)
    # a regulariser without the attribute is called without arguments
    assert float(call_regularizer(lambda: torch.tensor(7.0), labels)) == 7.0


def test_regression_refuses_the_data_dependent_mode():
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    with pytest.raises(InputError, match="output-mode=data needs class labels"):
        build_regularizers(model, mhe="output-mode=data", labels_available=False)


# ------------------------------------------------------------------------------- metrics
def test_ternary_and_arccos_discrete_parts_by_hand():
    x = torch.tensor([[1.0, 0.0, -1.0, 2.0], [1.0, 1.0, 1.0, 0.0]], dtype=D)
    # binary signs (sign 0 = +1): (1, 1, -1, 1).(1, 1, 1, 1) = 2 -> D_h = 1/2, theta = 1/4
    assert float(pairwise_distances(x, "discrete")[0, 1]) == pytest.approx(0.25)
    # ternary signs: (1, 0, -1, 1).(1, 1, 1, 0) = 0 -> D_h = 0, theta = 1/2
    assert float(pairwise_distances(x, "discrete-ternary")[0, 1]) == pytest.approx(0.5)
    # D' (footnote 4): arccos(D_h) / pi = arccos(1/2) / pi = 1/3
    assert float(pairwise_distances(x, "discrete-arccos")[0, 1]) == pytest.approx(1 / 3)
    assert float(pairwise_distances(x, "discrete-ternary-arccos")[0, 1]) == pytest.approx(0.5)
    # a mean with the D' part: cos = (1 - 1) / (sqrt 6 sqrt 3) = 0 -> theta = 1/2
    assert float(pairwise_distances(x, "am-arccos")[0, 1]) == pytest.approx((1 / 3 + 0.5) / 2)
    # cos-hm with D': c_Dh = (cos(pi/3) + 1)/2 = 3/4, c = (cos(pi/2) + 1)/2 = 1/2
    sim = 2 * 0.75 * 0.5 / (1.25 + 1e-8)
    assert float(pairwise_similarity(x, "cos-hm-arccos")[0, 1]) == pytest.approx(sim)
    assert parse_metric("cos-gm-ternary") == ("cos-gm", True, False)
    for bad in ("continuous-ternary", "hm-foo", "euclid"):
        with pytest.raises(InputError, match="unknown hierarchy metric"):
            parse_metric(bad)


def test_similarity_is_reversed_distance_for_eq9_metrics():
    x = torch.randn(5, 7, dtype=D)
    for metric in ("am", "gm", "hm", "discrete", "continuous", "hm-ternary"):
        assert torch.allclose(pairwise_similarity(x, metric), 1 - pairwise_distances(x, metric))


# -------------------------------------------------------------------- hierarchy (DH2L)
def _continuous_sim(a, b):
    c = float(a @ b / (a.norm() * b.norm()))
    return 1 - math.acos(max(-0.99, min(0.99, c))) / math.pi


def test_batch_hierarchy_uses_only_the_classes_present():
    torch.manual_seed(0)
    w = torch.randn(6, 5, dtype=D)
    groups = [0, 0, 0, 1, 1, 2]
    reg = HierarchyRegularizer(w, groups, metric="continuous", weight=1.0, constraint_weight=0.0)
    labels = torch.tensor([0, 1, 1, 3, 4, 0])            # classes 0, 1 (group 0), 3, 4 (group 1)
    # by hand: centres = means of the present classes' rows of each group
    c0, c1 = w[[0, 1]].mean(0), w[[3, 4]].mean(0)
    r_p = (_continuous_sim(w[0] - c0, w[1] - c0) + _continuous_sim(w[3] - c1, w[4] - c1)) / 2
    r_c = _continuous_sim(c0, c1)
    assert float(reg(labels=labels)) == pytest.approx(r_p + r_c, abs=1e-12)
    # scope full: every class, three groups (group 2 has one class: no within pairs)
    full = HierarchyRegularizer(w, groups, metric="continuous", weight=1.0,
                                constraint_weight=0.0, scope="full")
    g = [w[[0, 1, 2]].mean(0), w[[3, 4]].mean(0), w[5]]
    within0 = np.mean([_continuous_sim(w[i] - g[0], w[j] - g[0])
                       for i, j in ((0, 1), (0, 2), (1, 2))])
    within1 = _continuous_sim(w[3] - g[1], w[4] - g[1])
    between = np.mean([_continuous_sim(g[a], g[b]) for a, b in ((0, 1), (0, 2), (1, 2))])
    want = (within0 + within1) / 2 + between
    assert float(full(labels=labels)) == pytest.approx(want, abs=1e-12)
    assert float(full()) == pytest.approx(want, abs=1e-12)
    with pytest.raises(InputError, match="scope"):
        HierarchyRegularizer(w, groups, scope="epoch")


def test_metric_energy_term_by_hand():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]], dtype=D)   # 45, 90, 135 degrees
    reg = MetricEnergyRegularizer([a], "continuous", weight=0.5)
    sims = [1 - 0.25, 1 - 0.5, 1 - 0.75]                              # 1 - angle/pi
    assert float(reg()) == pytest.approx(0.5 * np.mean(sims))
    # the literal sum over ordered pairs i != j of §4.1
    literal = MetricEnergyRegularizer([a], "continuous", weight=0.5, reduction="sum")
    assert float(literal()) == pytest.approx(0.5 * 2 * sum(sims))
    with pytest.raises(InputError):
        MetricEnergyRegularizer([a], "nope")


def test_hierarchical_softmax_head_and_its_regulariser_follow_the_parameters():
    head = HierarchicalSoftmaxHead(3, [0, 0, 1])
    lin = head.linear
    x = torch.randn(4, 3)
    want = x @ (lin.centers[lin.group_ids] + lin.subs).t()          # no bias
    assert torch.allclose(head.logits(x), want)
    model = nn.Sequential(nn.Linear(5, 3))
    regs = build_regularizers(model, hierarchy={"a": ["p", "q"], "b": ["r"]},
                              class_names=["p", "q", "r"], head=head, hier_metric="continuous",
                              mhe="hidden=0")
    hier = [r for r in regs if isinstance(r, HierarchyRegularizer)][0]
    assert hier.layer is lin                                         # the module, not a copy
    mhe = [r for r in regs if isinstance(r, MHERegularizer)][0]
    before = (float(hier().detach()), float(mhe().detach()))
    with torch.no_grad():
        lin.subs.add_(torch.randn_like(lin.subs))
        lin.centers.mul_(-2.0)
    assert (float(hier().detach()), float(mhe().detach())) != before
    # the head's parameters receive the regulariser's gradient
    hier().backward()
    assert lin.subs.grad is not None and lin.centers.grad is not None


# ----------------------------------------------------------------------------- SphereNet
def test_sphereconv_weights_get_no_weight_decay_by_default():
    from protogen.layers import WSoftmaxHead
    from protogen.train.build import parameter_groups

    net = nn.ModuleDict({"conv": SphereConv2d(1, 4, 3), "plain": nn.Conv2d(1, 4, 3),
                         "head": WSoftmaxHead(4, 3)})
    groups = parameter_groups(net, 1e-4)
    no_decay = [g for g in groups if g.get("weight_decay") == 0.0][0]["params"]
    assert {id(p) for p in no_decay} == {id(net["conv"].weight), id(net["head"].weight)}
    decayed = {id(p) for p in groups[0]["params"]}
    assert id(net["plain"].weight) in decayed and id(net["conv"].weight) not in decayed
    assert parameter_groups(net, 1e-4, sphere_weight_decay=True) == list(net.parameters())
    # SGD with these groups leaves a zero-gradient SphereConv weight unchanged
    opt = torch.optim.SGD(groups, lr=0.1, weight_decay=1e-4)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    before = net["conv"].weight.detach().clone(), net["plain"].weight.detach().clone()
    opt.step()
    assert torch.equal(net["conv"].weight, before[0])
    assert not torch.equal(net["plain"].weight, before[1])


def test_old_runs_keep_weight_decay_on_sphere_weights():
    from protogen.train import TrainConfig

    assert TrainConfig().sphere_weight_decay is False
    assert TrainConfig.from_dict({}).sphere_weight_decay is True   # saved before this setting


def test_cnn9_is_the_papers_nine_layer_network():
    net = cnn9((3, 32, 32), 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 3 + [96] * 3 + [128] * 3
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 3
    assert net.fc.in_features == 128 * 4 * 4
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    sphere = sphere_cnn9((1, 28, 28), 7, sphere_op="linear")
    assert sum(isinstance(m, SphereConv2d) for m in sphere.modules()) == 9
    assert sphere(torch.zeros(2, 1, 28, 28)).shape == (2, 7)
    from protogen.train.registry import build_model

    mhe = build_model("mhe-cnn9", (3, 32, 32), 5)          # seed 002 Table 11: 64/128/256
    assert [c.out_channels for c in mhe.modules() if isinstance(c, nn.Conv2d)] == \
        [64] * 3 + [128] * 3 + [256] * 3


# ---------------------------------------------------------------------------------- CLI
HIER = "loops,zero\nloops,six\nloops,eight\nloops,nine\nstrokes,one\nstrokes,four\n" \
       "strokes,seven\ncurves,two\ncurves,three\ncurves,five\n"


def _config(out):
    return json.loads((out / "config.json").read_text())["config"]


def test_cli_runs_the_completed_methods(run, tmp_path):
    (tmp_path / "h.csv").write_text(HIER)
    base = ["train", "--dataset", "digits", "--epochs", "1", "--limit-train", "200",
            "--limit-test", "50", "--quiet", "--threads", "1"]
    r = run(*base, "--loss", "hier-softmax", "--hierarchy", "h.csv", "--hier-metric",
            "cos-hm-arccos", "--hier-energy", "0.1", "--energy-metric", "discrete-ternary",
            "--dim", "8", "--mhe", "s=2,output-mode=data", "--out", "a")
    assert r.exit_code == 0, r.output
    c = _config(tmp_path / "a")
    assert c["loss"] == "hier-softmax" and c["regularizers"]["hier_scope"] == "batch"
    assert run("evaluate", "a").exit_code == 0         # the HierarchicalLinear head rebuilds
    assert c["regularizers"]["energy_metric"] == "discrete-ternary"
    r = run(*base, "--recipe", "dh2l", "--hierarchy", "h.csv", "--batch-size", "64",
            "--out", "b")
    assert r.exit_code == 0, r.output
    c = _config(tmp_path / "b")
    assert (c["weight_decay"], c["lr"], c["loss"], c["batch_size"]) == \
        (5e-4, 0.1, "hier-softmax", 64)
    assert c["regularizers"]["hier_energy"] == 0.1 and c["regularizers"]["hier_weight"] == 0.1
    r = run(*base, "--model", "sphere-cnn", "--loss", "w-softmax", "--sphere-op", "sigmoid",
            "--sphere-k", "0.3", "--head-op", "linear", "--norm", "sphere-rescaled",
            "--out", "c")
    assert r.exit_code == 0, r.output
    c = _config(tmp_path / "c")
    assert c["model_options"] == {"sphere_op": "sigmoid", "k": 0.3, "batchnorm": False,
                                  "rescale": True}
    assert c["head_options"] == {"operator": "linear"} and c["sphere_weight_decay"] is False


@pytest.mark.parametrize("args, fragment", [
    (["--hierarchy", "h.csv", "--loss", "softmax", "--hier-metric", "l3"],
     "unknown hierarchy metric"),
    (["--hier-energy", "0.1", "--energy-metric", "xx"], "unknown hierarchy metric"),
    (["--model", "sphere-cnn", "--sphere-op", "tanh"], "unknown --sphere-op"),
    (["--loss", "w-softmax", "--head-op", "learnable-sigmoid"], "unknown --head-op"),
    (["--loss", "softmax", "--hierarchy", "cifar100"], "unknown classes"),
    (["--loss", "hier-softmax"], "needs --hierarchy"),
    (["--recipe", "dh2l"], "--recipe dh2l needs --hierarchy"),
    (["--task", "regression", "--dataset", "rotated-digits", "--loss", "prototype",
      "--mhe", "output-mode=data"], "output-mode=data needs class labels"),
    (["--norm", "sphere"], "--norm applies"),
    (["--model", "sphere-cnn", "--sphere-op", "cosine", "--norm", "batch"], "--norm batch"),
])
def test_cli_bad_layer_input_is_one_line(run, tmp_path, args, fragment):
    (tmp_path / "h.csv").write_text(HIER)
    r = run("train", "--epochs", "1", "--limit-train", "50", "--quiet", *args)
    assert_one_line_error(r, fragment)

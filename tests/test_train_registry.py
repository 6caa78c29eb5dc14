"""The trainer owns the registries of networks and heads; layers never imports the trainer."""

import subprocess
import sys

import pytest
import torch

from protogen.errors import InputError
from protogen.layers.sphereconv import SphereCNN, WSoftmaxHead
from protogen.train import registry


def test_layers_import_without_the_trainer():
    code = ("import sys, protogen.layers; "
            "print(sorted(m for m in sys.modules if m.startswith('protogen.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_names_the_trainer_and_layers_entries():
    assert {"mlp", "cnn", "resnet32", "sphere-cnn"} <= set(registry.MODELS)
    assert {"prototype", "softmax", "ncm", "w-softmax", "ga-softmax"} <= set(registry.HEADS)
    assert isinstance(registry.build_model("sphere-cnn", (1, 8, 8), 5, sphere_op="linear"),
                      SphereCNN)
    head = registry.build_head("ga-softmax", 5, 3)
    assert isinstance(head, WSoftmaxHead) and head.margin == 4.0
    with pytest.raises(InputError, match="w-softmax has no margin"):
        registry.build_head("w-softmax", 5, 3, margin=2.0)


def test_unknown_model_options_are_refused_before_building(monkeypatch):
    built = []
    monkeypatch.setitem(registry.MODELS, "probe",
                        lambda shape, out_dim, width=4: built.append(width) or torch.nn.Flatten())
    with pytest.raises(InputError, match="model 'probe' does not take depth .*it takes width"):
        registry.build_model("probe", (1, 2, 2), 4, depth=3)
    assert built == []
    registry.build_model("probe", (1, 2, 2), 4, width=2)
    assert built == [2]


def test_a_bug_inside_a_builder_is_not_reported_as_a_user_error(monkeypatch):
    def broken(shape, out_dim):
        raise TypeError("unexpected keyword argument inside the network")

    monkeypatch.setitem(registry.MODELS, "broken", broken)
    with pytest.raises(TypeError):
        registry.build_model("broken", (1, 2, 2), 4)

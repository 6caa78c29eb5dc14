"""--model module:callable: a user's backbone, and every way it can be wrong."""

import pytest
import torch.nn as nn

from protogen.errors import InputError
from protogen.train.user_model import load_user_model

GOOD = '''
import torch.nn as nn

def net(out_dim, input_shape):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, out_dim))

def plain(out_dim):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, out_dim))

def wrong_size(out_dim):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, out_dim + 1))

def not_a_module(out_dim):
    return 3

notcallable = 5
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "mynets_protogen_test.py").write_text(GOOD)
    (tmp_path / "broken_protogen_test.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    yield "mynets_protogen_test"


def test_factories_with_and_without_input_shape(user_module):
    model = load_user_model(f"{user_module}:net", (1, 8, 8), 5)
    assert isinstance(model, nn.Module) and model[1].out_features == 5
    assert load_user_model(f"{user_module}:plain", (1, 8, 8), 3)[1].out_features == 3


@pytest.mark.parametrize("spec, message", [
    ("nosuchmodule_xyz:net", "cannot import"),
    ("broken_protogen_test:net", "RuntimeError: boom"),
    ("{m}:missing", "has no"),
    ("{m}:notcallable", "not callable"),
    ("{m}:not_a_module", "not a torch nn.Module"),
    ("{m}:wrong_size", "outputs (4,) per example"),
    ("{m}:", "expected module:callable"),
])
def test_every_failure_is_one_line(user_module, spec, message):
    with pytest.raises(InputError) as err:
        load_user_model(spec.format(m=user_module), (1, 8, 8), 3)
    assert message in str(err.value) and "\n" not in str(err.value)

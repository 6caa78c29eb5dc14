"""Networks: ``mlp``, ``cnn`` (seed 000 §3.3: two convolutional + two fully connected layers) and
``resnet32`` (the CIFAR-style ResNet of He et al. 2016, the paper's main network).

Every builder is ``builder(input_shape, out_dim, **options) -> nn.Module`` with ``input_shape``
= (channels, height, width) and ``out_dim`` = the prototype dimension D. Other packages add
models with :func:`register_model` (the layers package adds ``sphere-cnn``).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from protogen.errors import InputError

ModelBuilder = Callable[..., nn.Module]
MODELS: dict[str, ModelBuilder] = {}


def register_model(name: str, builder: ModelBuilder) -> None:
    MODELS[name] = builder


def build_model(name: str, input_shape, out_dim: int, **options) -> nn.Module:
    if name not in MODELS:
        _load_plugins()
    if name not in MODELS:
        raise InputError(f"unknown model {name!r} (choose from {', '.join(sorted(MODELS))})")
    return MODELS[name](tuple(input_shape), int(out_dim), **options)


def _load_plugins() -> None:
    """Models living in other packages register themselves on import."""
    try:
        import protogen.layers  # noqa: F401
    except ImportError:
        pass


class MLP(nn.Module):
    def __init__(self, input_shape, out_dim: int, hidden: int = 256, depth: int = 2):
        super().__init__()
        size = 1
        for s in input_shape:
            size *= int(s)
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(depth):
            layers += [nn.Linear(size, hidden), nn.ReLU(inplace=True)]
            size = hidden
        layers.append(nn.Linear(size, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """conv(32, 3×3) → ReLU → conv(64, 3×3) → ReLU → max-pool 2 → fc(128) → ReLU → fc(D).
    Inputs smaller than 8×8 skip the pooling; the flattened size is computed from the shape."""

    def __init__(self, input_shape, out_dim: int, width: int = 32, hidden: int = 128):
        super().__init__()
        c, h, w = input_shape
        self.conv1 = nn.Conv2d(c, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.pool = 2 if min(h, w) >= 8 else 1
        flat = 2 * width * (h // self.pool) * (w // self.pool)
        self.fc1 = nn.Linear(flat, hidden)
        self.fc2 = nn.Linear(hidden, out_dim)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        if self.pool > 1:
            x = F.max_pool2d(x, self.pool)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            # Projection shortcut (option B): a 1×1 convolution where the shape changes.
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNetCIFAR(nn.Module):
    """ResNet-(6n+2) for small images: 3 stages of n basic blocks at 16/32/64 channels (n = 5
    gives ResNet-32), global average pooling, a linear layer to D."""

    def __init__(self, input_shape, out_dim: int, blocks_per_stage: int = 5, width: int = 16):
        super().__init__()
        c = input_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(c, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        layers, cin = [], width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(blocks_per_stage):
                layers.append(BasicBlock(cin, cout, 2 if (i == 0 and stage > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


register_model("mlp", lambda shape, out_dim, **kw: MLP(shape, out_dim, **kw))
register_model("cnn", lambda shape, out_dim, **kw: SmallCNN(shape, out_dim, **kw))
register_model("resnet32", lambda shape, out_dim, **kw: ResNetCIFAR(shape, out_dim, 5, **kw))

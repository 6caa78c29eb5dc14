"""Networks: ``mlp``, ``cnn`` (seed 000 §3.3: two convolutional + two fully connected layers) and
``resnet32`` (the CIFAR-style ResNet of He et al. 2016, the paper's main network).

Every network is built as ``Net(input_shape, out_dim, **options)`` with ``input_shape`` =
(channels, height, width) and ``out_dim`` = the prototype dimension D; the names ``--model``
takes are in :mod:`protogen.train.registry`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


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


def resnet32(input_shape, out_dim: int, width: int = 16) -> ResNetCIFAR:
    """ResNet-32 (n = 5 blocks per stage), the paper's main network."""
    return ResNetCIFAR(input_shape, out_dim, blocks_per_stage=5, width=width)

"""Batched crop/flip against a hand slice of the padded image."""

import numpy as np
import pytest
import torch

from protogen.errors import InputError
from protogen.train.augment import Augment, parse_augment, random_crop, random_flip


def _images(n=64, c=3, h=8, w=8):
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w) + 1.0


def test_crop_is_a_window_of_the_zero_padded_image():
    x = _images()
    g = torch.Generator().manual_seed(5)
    out = random_crop(x, 2, g)
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(x)):
        # Find the offset by brute force over every window (an independent search).
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if np.array_equal(padded[i, :, dy:dy + 8, dx:dx + 8], out[i].numpy())]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 15  # 25 possible offsets, 64 draws: nearly all appear


def test_flip_mirrors_about_half_the_images():
    x = _images(n=400, c=1, h=2, w=3)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [bool(torch.equal(out[i], x[i].flip(2))) for i in range(len(x))]
    kept = [bool(torch.equal(out[i], x[i])) for i in range(len(x))]
    assert all(a != b for a, b in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def test_augment_is_deterministic_per_seed_and_epoch():
    x = _images()
    a, b = Augment(("crop", "flip"), 3, torch.device("cpu")), Augment(("crop", "flip"), 3,
                                                                      torch.device("cpu"))
    a.start_epoch(2), b.start_epoch(2)
    assert torch.equal(a(x), b(x))
    b.start_epoch(3)
    assert not torch.equal(a(x), b(x))


def test_parse_defaults_and_errors():
    assert parse_augment("auto", (3, 32, 32)) == ("crop", "flip")
    assert parse_augment(None, (1, 28, 28)) == ()
    assert parse_augment("flip", (1, 28, 28)) == ("flip",)
    assert parse_augment("none", (3, 32, 32)) == ()
    with pytest.raises(InputError, match="rotate"):
        parse_augment("crop,rotate", (3, 32, 32))
    with pytest.raises(InputError, match="needs images"):
        parse_augment("crop", (64,))

"""Data augmentation on the training device, batched: the paper's CIFAR recipe (seed 000 §3:
random crops of the zero-padded 32x32 image and horizontal flips).

Runs on whole batches with torch indexing, so the images never leave the GPU and no worker
process is needed. Random draws come from a generator seeded per (seed, epoch), so a resumed run
sees the same augmentations as an uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from protogen.errors import InputError

OPERATIONS = ("crop", "flip")
CROP_PADDING = 4


def parse_augment(spec: str | None, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    """``"crop,flip"``, ``"flip"``, ``"none"``, or ``"auto"``/None: crop+flip for 32x32 colour
    images (CIFAR-like data, as the paper trains them), none otherwise."""
    if spec in (None, "", "auto"):
        return OPERATIONS if tuple(input_shape) == (3, 32, 32) else ()
    if spec == "none":
        return ()
    ops = tuple(s.strip() for s in str(spec).split(",") if s.strip())
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown or not ops:
        raise InputError(f"unknown augmentation {', '.join(unknown) or spec!r} "
                         f"(choose from {', '.join(OPERATIONS)}, none, auto)")
    if "crop" in ops and (len(input_shape) != 3 or min(input_shape[1:]) < 2):
        raise InputError(f"--augment crop needs images (C, H, W), the data has shape "
                         f"{tuple(input_shape)}")
    return ops


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of (N, C, H, W): zero-pad by ``padding`` on every side, then cut an H x W
    window at a uniformly random offset (0 .. 2*padding in each direction)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    span = 2 * padding + 1
    oy = torch.randint(0, span, (n,), generator=generator, device=generator.device).to(x.device)
    ox = torch.randint(0, span, (n,), generator=generator, device=generator.device).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)


class Augment:
    """Callable applying the chosen operations to a training batch."""

    def __init__(self, ops: tuple[str, ...], seed: int, device: torch.device):
        self.ops = tuple(ops)
        self.seed = int(seed)
        # CUDA generators live on the device; draws then need no host round trip.
        self.generator = torch.Generator(device=device if device.type == "cuda" else "cpu")

    def start_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed * 1_000_003 + epoch)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if "crop" in self.ops:
            x = random_crop(x, CROP_PADDING, self.generator)
        if "flip" in self.ops:
            x = random_flip(x, self.generator)
        return x

    def __bool__(self) -> bool:
        return bool(self.ops)

"""SphereNet (seed 001): hyperspherical convolution, its losses and its regulariser.

SphereConv (seed 001 Eq. 1) replaces the inner product of a kernel ``w`` and an input patch
``x`` by a function of their angle, F_s(w, x) = g(θ) + b with θ = ∠(w, x). The operators
(§2.1), all with g(0) = 1, g(π/2) = 0, g(π) = −1 and decreasing on [0, π]:

- linear (Eq. 2):  g(θ) = 1 − 2θ/π  (a = −2/π, b = 1 in the paper);
- cosine (Eq. 3):  g(θ) = cos θ      (the doubly normalised convolution);
- sigmoid (Eq. 4): g(θ) = (1 + e^{−π/(2k)}) / (1 − e^{−π/(2k)}) · (1 − e^{θ/k − π/(2k)}) /
  (1 + e^{θ/k − π/(2k)}) = tanh((π/2 − θ)/(2k)) / tanh(π/(4k)), k > 0.
  The extracted text of Eq. (4) is garbled; this form is derived from the prose (a step
  function as k → 0, the linear operator as k → ∞, range [−1, 1]) and from the derivative in
  §2.2, which is proportional to e^{θ/k} / (1 + e^{θ/k})².
- learnable sigmoid (§2.5): the sigmoid operator with one k per output channel learned by
  back-propagation; kept positive through a softplus, initialised at 0.5 as in §4.3.

SphereNorm (§2.5) is SphereConv used as a normalisation: outputs lie in [−1, 1] whatever the
scale of weights and inputs; ``rescale=True`` adds its learned rescaling σ·g(θ) + β per channel.

Heads (§3): W-Softmax (Eq. 10; normalised class weights, no bias, logits ‖x‖·g(θ_j); Eq. 10 is
garbled in the extracted text, the form follows its prose: "we normalize the weights and zero
out the biases", the decision boundary ‖x‖g(θ_1) = ‖x‖g(θ_2)) and GA-Softmax (Eq. 11, the
multiplicative angular margin m on the target class, ‖x‖·ψ(θ_y) with ψ(θ) = g(mθ − jπ) − 2j for
θ ∈ [jπ/m, (j+1)π/m]: monotone on [0, π] for every g, and exactly A-Softmax's ψ for g = cos,
the paper's remark that A-Softmax is the cosine GA-Softmax). As in A-Softmax the target logit is
blended λ‖x‖g(θ_y) + ‖x‖ψ(θ_y) over 1 + λ with λ annealed from ``lambda_start`` towards
``lambda_min``; without it a margin of 4 rarely trains from scratch.

Orthogonality (§2.4, "Network Regularization"): ‖ŴŴᵀ − I‖²_F over a layer's kernel directions.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from protogen.errors import InputError

OPERATORS = ("linear", "cosine", "sigmoid", "learnable-sigmoid")
_COS_EPS = 1e-6


class SafeArccos(torch.autograd.Function):
    """θ = arccos(c) with c clamped into [−1, 1] and a gradient −1/√(1 − c²) kept finite.

    At c = ±1 (a patch parallel to the kernel, or a zero patch after clamping) the true
    derivative is infinite; the denominator is floored at √eps instead, so training never sees
    inf/NaN. Inside (−1 + eps, 1 − eps) it is the exact derivative.
    """

    @staticmethod
    def forward(ctx, c, eps: float = 1e-6):
        c = c.clamp(-1.0, 1.0)
        ctx.save_for_backward(c)
        ctx.eps = eps
        return torch.arccos(c)

    @staticmethod
    def backward(ctx, grad):
        (c,) = ctx.saved_tensors
        return -grad / torch.sqrt((1.0 - c * c).clamp_min(ctx.eps)), None


def safe_arccos(c: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return SafeArccos.apply(c, eps)


def _full_precision(x: torch.Tensor) -> torch.Tensor:
    """Angles are computed in float32 at least: under mixed precision the arccos of a float16
    cosine near ±1 loses most of its digits (the layers run with autocast disabled)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_operator(op: str) -> str:
    if op not in OPERATORS:
        raise InputError(f"unknown SphereConv operator {op!r} (choose from {', '.join(OPERATORS)})")
    return op


def sphere_g(cos: torch.Tensor, op: str, k=0.5) -> torch.Tensor:
    """g(θ) of seed 001 Eqs. (2)–(4) from the cosine of θ. ``k`` is a float or a tensor
    broadcastable to ``cos`` (the learnable sigmoid passes one k per channel)."""
    _check_operator(op)
    if op == "cosine":
        return cos
    theta = safe_arccos(cos)
    if op == "linear":
        return 1.0 - theta * (2.0 / math.pi)
    k = torch.as_tensor(k, dtype=cos.dtype, device=cos.device)
    if bool((k <= 0).any()):
        raise InputError("the sigmoid SphereConv parameter k must be positive")
    return torch.tanh((math.pi / 2 - theta) / (2 * k)) / torch.tanh(math.pi / (4 * k))


def sphere_psi(cos: torch.Tensor, op: str, margin: float, k=0.5) -> torch.Tensor:
    """GA-Softmax's margin function ψ(θ) = g(mθ − jπ) − 2j, j = ⌊mθ/π⌋ (monotone on [0, π])."""
    theta = safe_arccos(cos)
    mt = margin * theta
    j = torch.floor(mt / math.pi).clamp(0, math.ceil(margin) - 1).detach()
    inner = torch.cos(mt - j * math.pi)          # cos of an angle in [0, π]
    return sphere_g(inner, op, k) - 2.0 * j


class _KMixin:
    """The sigmoid parameter k: fixed (buffer) or learnable per output channel (softplus)."""

    def _init_k(self, op: str, k: float, channels: int) -> None:
        if op in ("sigmoid", "learnable-sigmoid") and not k > 0:
            raise InputError(f"the sigmoid SphereConv parameter k must be positive, got {k}")
        if op == "learnable-sigmoid":
            # softplus(raw) = k at initialisation
            raw = math.log(math.expm1(k))
            self.k_raw = nn.Parameter(torch.full((channels,), raw))
        else:
            self.k_raw = None
            self.k_fixed = float(k)

    def k_value(self):
        if self.k_raw is None:
            return self.k_fixed
        return F.softplus(self.k_raw)


class SphereConv2d(nn.Module, _KMixin):
    """Hyperspherical convolution (seed 001 Eq. 1): y = g(∠(w, patch)) [σ·y + β with rescale].

    cos θ = ⟨w, x⟩ / (‖w‖‖x‖): the numerator is an ordinary convolution, the patch norms a
    convolution of x² with a ones kernel, so the cost is about two convolutions. A zero patch
    (padding, dead ReLUs) gets cos θ = 0, i.e. θ = π/2 and g = 0.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=0,
                 operator: str = "cosine", k: float = 0.5, bias: bool = False,
                 rescale: bool = False):
        super().__init__()
        self.operator = _check_operator(operator)
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size, self.stride, self.padding = ks, stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *ks))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = nn.Parameter(torch.ones(out_channels)) if rescale else None
        self.shift = nn.Parameter(torch.zeros(out_channels)) if rescale else None
        self.register_buffer("ones", torch.ones(1, in_channels, *ks), persistent=False)
        self._init_k(self.operator, k, out_channels)

    def cosines(self, x: torch.Tensor) -> torch.Tensor:
        dots = F.conv2d(x, self.weight, None, self.stride, self.padding)
        patch = F.conv2d(x * x, self.ones.to(x.dtype), None, self.stride, self.padding)
        wnorm = self.weight.flatten(1).norm(dim=1).view(1, -1, 1, 1)
        denom = wnorm * patch.clamp_min(0).sqrt()
        return dots / denom.clamp_min(_COS_EPS)

    def forward(self, x):
        k = self.k_value()
        if self.k_raw is not None:
            k = k.view(1, -1, 1, 1)
        with torch.autocast(x.device.type, enabled=False):
            y = sphere_g(self.cosines(_full_precision(x)), self.operator, k)
        if self.scale is not None:
            y = y * self.scale.view(1, -1, 1, 1) + self.shift.view(1, -1, 1, 1)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y


class SphereLinear(nn.Module, _KMixin):
    """A fully connected SphereConv (seed 001 §2.4, "Extension to fully connected layers")."""

    def __init__(self, in_features: int, out_features: int, operator: str = "cosine",
                 k: float = 0.5, bias: bool = False, rescale: bool = False):
        super().__init__()
        self.operator = _check_operator(operator)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = nn.Parameter(torch.ones(out_features)) if rescale else None
        self.shift = nn.Parameter(torch.zeros(out_features)) if rescale else None
        self._init_k(self.operator, k, out_features)

    def cosines(self, x):
        xn = x.norm(dim=1, keepdim=True)
        wn = self.weight.norm(dim=1)
        return (x @ self.weight.t()) / (xn * wn).clamp_min(_COS_EPS)

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            y = sphere_g(self.cosines(_full_precision(x)), self.operator, self.k_value())
        if self.scale is not None:
            y = y * self.scale + self.shift
        if self.bias is not None:
            y = y + self.bias
        return y


# ------------------------------------------------------------------------------------ heads
class WSoftmaxHead(nn.Module):
    """W-Softmax (seed 001 Eq. 10) and, with ``margin`` > 1, GA-Softmax (Eq. 11).

    Own class weights W (K, D), normalised in use, no bias. Logit of class j: ‖x‖·g(θ_j); for
    the target class under GA-Softmax ‖x‖·(λ g(θ_y) + ψ(θ_y)) / (1 + λ). ``predict`` is the
    argmax of ‖x‖·g(θ_j), i.e. the smallest angle (g is decreasing).
    """

    task = "classification"

    def __init__(self, in_dim: int, num_classes: int, *, operator: str = "cosine",
                 k: float = 0.5, margin: float = 1.0, lambda_start: float = 1000.0,
                 lambda_min: float = 5.0, lambda_gamma: float = 0.12, lambda_power: float = 1.0):
        super().__init__()
        if operator == "learnable-sigmoid":
            operator = "sigmoid"      # the head has no per-class k; it uses the fixed sigmoid
        self.operator = _check_operator(operator)
        if not margin >= 1:
            raise InputError(f"the angular margin must be >= 1, got {margin}")
        if operator == "sigmoid" and not k > 0:
            raise InputError(f"the sigmoid parameter k must be positive, got {k}")
        self.k, self.margin = float(k), float(margin)
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.lambda_start, self.lambda_min = float(lambda_start), float(lambda_min)
        self.lambda_gamma, self.lambda_power = float(lambda_gamma), float(lambda_power)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, features):
        return features

    def cosines(self, x):
        return (x @ F.normalize(self.weight, dim=1).t()) / x.norm(dim=1, keepdim=True).clamp_min(
            _COS_EPS)

    def blend(self) -> float:
        """A-Softmax's annealed λ: max(λ_min, λ_start · (1 + γ·step)^−power)."""
        lam = self.lambda_start * (1 + self.lambda_gamma * int(self.steps)) ** -self.lambda_power
        return max(self.lambda_min, lam)

    def logits(self, x, targets=None):
        x = x.to(self.weight.dtype)
        cos = self.cosines(x)
        norm = x.norm(dim=1, keepdim=True)
        out = norm * sphere_g(cos, self.operator, self.k)
        if targets is None or self.margin == 1:
            return out
        cos_y = cos.gather(1, targets[:, None])
        lam = self.blend()
        g_y = sphere_g(cos_y, self.operator, self.k)
        psi_y = sphere_psi(cos_y, self.operator, self.margin, self.k)
        target = norm * (lam * g_y + psi_y) / (1 + lam)
        return out.scatter(1, targets[:, None], target)

    def loss(self, outputs, targets):
        loss = F.cross_entropy(self.logits(outputs, targets), targets)
        if self.training:
            self.steps += 1
        return loss

    def predict(self, outputs):
        return self.logits(outputs).argmax(dim=1)


def orthogonality(weight: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """‖ŴŴᵀ − I‖²_F over the rows (neurons) of a flattened weight (seed 001 §2.4).

    With ``normalize`` the kernel directions are used (SphereConv ignores the norms); without,
    it is the orthonormal regulariser ‖WᵀW − I‖²_F of plain layers."""
    w = weight.flatten(1)
    if normalize:
        w = F.normalize(w, dim=1)
    gram = w @ w.t()
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    return (gram - eye).pow(2).sum()


# ------------------------------------------------------------------------------------ model
class SphereCNN(nn.Module):
    """The paper-style small CNN (seed 001 §4.2, CNN-9 pattern: stages of 3×3 convolutions,
    BatchNorm and ReLU, 2×2 max-pooling between stages), scaled down for small images.

    ``stages`` output channels per stage, ``depth`` convolutions per stage, then a linear layer to
    ``out_dim`` features for the head. ``sphere_op`` picks the SphereConv operator; ``"none"``
    builds the same network from plain ``nn.Conv2d`` (the paper's "Original Conv" baseline).
    ``batchnorm=False`` with SphereConv is SphereNorm (§2.5: SphereConv as the normalisation),
    ``rescale`` its learned σ·g + β; ``pool_last`` pools after the last stage too.
    """

    def __init__(self, input_shape, out_dim: int, sphere_op: str = "cosine", k: float = 0.5,
                 stages=(16, 32, 64), depth: int = 1, batchnorm: bool = True,
                 rescale: bool = False, pool_last: bool = False):
        super().__init__()
        c, h, w = (int(s) for s in input_shape)
        if sphere_op != "none":
            _check_operator(sphere_op)
        self.sphere_op = sphere_op
        layers: list[nn.Module] = []
        for stage, width in enumerate(stages):
            for _ in range(depth):
                if sphere_op == "none":
                    layers.append(nn.Conv2d(c, width, 3, padding=1, bias=not batchnorm))
                else:
                    layers.append(SphereConv2d(c, width, 3, padding=1, operator=sphere_op, k=k,
                                               rescale=rescale))
                if batchnorm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                c = width
            if (stage < len(stages) - 1 or pool_last) and min(h, w) >= 4:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * h * w, out_dim)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


def cnn9(input_shape, out_dim: int, sphere_op: str = "none", k: float = 0.5,
         widths=(64, 96, 128), batchnorm: bool = True, rescale: bool = False) -> SphereCNN:
    """The 9-layer CNN of seed 001 §4.2 (Table 1): three stages of three 3×3 convolutions with
    64, 96 and 128 filters (§4.3 / Fig. 4: Conv1.1 64, Conv2.1 96, Conv3.1 128; Conv3.1 is
    "the seventh convolutional layer"), BatchNorm + ReLU, 2×2 max-pooling after each stage
    (seed 002 Table 11's CNN-9 pattern), then a linear layer to ``out_dim`` features.
    ``sphere_op="none"`` is the "Original Conv" column; ``--model sphere-cnn9`` defaults to
    cosine SphereConv."""
    return SphereCNN(input_shape, out_dim, sphere_op=sphere_op, k=k, stages=tuple(widths),
                     depth=3, batchnorm=batchnorm, rescale=rescale, pool_last=True)


def sphere_cnn9(input_shape, out_dim: int, sphere_op: str = "cosine", k: float = 0.5,
                widths=(64, 96, 128), batchnorm: bool = True, rescale: bool = False) -> SphereCNN:
    """:func:`cnn9` with SphereConv layers (cosine by default)."""
    return cnn9(input_shape, out_dim, sphere_op=sphere_op, k=k, widths=widths,
                batchnorm=batchnorm, rescale=rescale)

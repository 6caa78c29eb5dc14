"""GPU throughput of the trainer's hot path; writes the ``train_gpu`` section of RESULTS.md.

ResNet-32 on CIFAR-sized batches (3x32x32, batch 128, synthetic data: throughput does not depend
on the pixels), forward + backward + SGD step, timed with CUDA events after a warm-up:

  - float32 vs autocast bf16 vs autocast fp16 (with the gradient scaler), and
  - the prototype head (protogen.nn.PrototypeLoss, K = 100 prototypes in D = 64) vs a softmax
    head with the same output dimension (a linear layer D -> K + cross-entropy): the overhead
    of the prototype head as a ratio of step times.

Without CUDA it writes "not measured" and says why (the numbers are meaningless on a CPU).

    python benchmarks/train_gpu.py [--steps 50] [--compile]
"""

from __future__ import annotations

import argparse

import torch
from _common import command_line, machine, markdown_table, replace_section, utc_now

import protogen.nn as pnn
from protogen.train.models import resnet32

K, D, BATCH = 100, 64, 128
HEADING = "## GPU training throughput (`benchmarks/train_gpu.py`, issue 14)"


def _step_time(head: str, dtype, steps: int, compile_: bool) -> float:
    """Median milliseconds per training step."""
    device = torch.device("cuda")
    torch.manual_seed(0)
    net = resnet32((3, 32, 32), D).to(device)
    protos = torch.nn.functional.normalize(torch.randn(K, D), dim=1)
    if head == "prototype":
        crit = pnn.PrototypeLoss(protos).to(device)
        params = list(net.parameters())

        def loss_fn(out, y):
            return crit(out, y)
    else:
        linear = torch.nn.Linear(D, K).to(device)
        params = list(net.parameters()) + list(linear.parameters())

        def loss_fn(out, y):
            return torch.nn.functional.cross_entropy(linear(out.float()), y)
    model = torch.compile(net) if compile_ else net
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
    x = torch.randn(BATCH, 3, 32, 32, device=device)
    y = torch.randint(0, K, (BATCH,), device=device)
    times = []
    for i in range(steps + 10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(x)
        loss = loss_fn(out.float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        end.record()
        torch.cuda.synchronize()
        if i >= 10:  # warm-up: cuDNN autotuning, compilation
            times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args(argv)
    stamp = f"{utc_now('%Y-%m-%d')}, {machine(torch_info=True)}; `{command_line()}`"
    if not torch.cuda.is_available():
        body = (f"{HEADING}\n\nNot measured: no CUDA device on this machine ({stamp}). Run "
                "`python benchmarks/train_gpu.py` on a machine with a GPU.")
        replace_section("train_gpu", body)
        print(body)
        return
    rows = []
    for name, dtype in (("float32", None), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            continue
        proto = _step_time("prototype", dtype, args.steps, args.compile)
        soft = _step_time("softmax", dtype, args.steps, args.compile)
        rows.append([name, f"{proto:.2f}", f"{BATCH / proto * 1000:.0f}", f"{soft:.2f}",
                     f"{proto / soft:.3f}"])
    table = markdown_table(["precision", "prototype head ms/step", "images/s",
                            "softmax head ms/step", "prototype / softmax"], rows)
    body = (f"{HEADING}\n\nResNet-32, batch {BATCH} of 3x32x32, K={K}, D={D}, median of {args.steps} steps"
            f"{' (torch.compile)' if args.compile else ''}. {stamp}\n\n{table}")
    replace_section("train_gpu", body)
    print(body)


if __name__ == "__main__":
    main()

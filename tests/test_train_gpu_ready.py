"""GPU readiness (issue 14 item 6): what can be checked on the CPU is checked here against the
plain path; the CUDA paths run where a device is lent (marked gpu, skipped without CUDA)."""

import json

import numpy as np
import pytest
import torch

from protogen.train import TrainConfig
from protogen.train.build import build_optimisation
from protogen.train.config import RunInfo
from protogen.train.data import Split
from protogen.train.loop import amp_dtype, batch_source, epoch_batches, Dist


def _info(mean=0.5, std=2.0):
    return RunInfo(num_classes=3, bounds=(None, None), prototypes={}, prototype_shape=None,
                   input_shape=(1, 1, 4), input_mean=mean, input_std=std, class_names=None,
                   train_size=10, test_size=0, dataset_info={}, out_dim=3)


def test_amp_dtype_choice():
    cpu = torch.device("cpu")
    assert amp_dtype(TrainConfig(amp_dtype="bf16"), cpu) is torch.bfloat16
    assert amp_dtype(TrainConfig(amp_dtype="fp16"), cpu) is torch.float16
    assert amp_dtype(TrainConfig(), cpu) is torch.float16  # no CUDA bf16 here: float16
    # bf16 needs no loss scaling; float16 does (a no-op scaler on CPU either way).
    net = torch.nn.Linear(2, 2)
    assert not build_optimisation(TrainConfig(amp=True, amp_dtype="bf16").resolved(),
                                  net).scaler.is_enabled()


def test_cpu_batches_come_from_the_loader_normalised():
    split = Split(np.arange(40, dtype=np.float32).reshape(10, 1, 1, 4),
                  np.arange(10) % 3, None)
    batches = epoch_batches(10, 4, seed=0, epoch=0, d=Dist())
    got = list(batch_source(split, _info(), batches, torch.device("cpu"), cache={}))
    for (x, y, _), idx in zip(got, batches):
        np.testing.assert_allclose(x.numpy(), (split.x[idx.numpy()] - 0.5) / 2.0)
        assert y.tolist() == (idx.numpy() % 3).tolist()


@pytest.mark.gpu
def test_device_resident_batches_equal_the_loader_batches():
    split = Split(np.random.default_rng(0).normal(size=(50, 1, 1, 4)).astype(np.float32),
                  np.arange(50) % 3, np.linspace(0, 1, 50))
    batches = epoch_batches(50, 8, seed=1, epoch=0, d=Dist())
    cache = {}
    gpu = list(batch_source(split, _info(), batches, torch.device("cuda"), cache=cache))
    assert cache and next(iter(cache.values())) is not None  # the split stayed on the GPU
    cpu = list(batch_source(split, _info(), batches, torch.device("cpu"), cache={}))
    for a, b in zip(gpu, cpu):
        for ta, tb in zip(a, b):
            assert ta.is_cuda
            torch.testing.assert_close(ta.cpu(), tb)


@pytest.mark.gpu
def test_gpu_bf16_and_compile(run, tmp_path):
    r = run("train", "-p", "onehot", "--device", "cuda", "--amp", "--amp-dtype", "bf16",
            "--compile", "--epochs", "2", "--model", "cnn", "--quiet", "--out", "g", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["accuracy"] > 0.5


@pytest.mark.slow
def test_compile_on_cpu_trains_like_eager(run, tmp_path):
    """torch.compile changes how the network runs, not what it computes (to float tolerance)."""
    acc = {}
    for flag in ([], ["--compile"]):
        out = "c" if flag else "e"
        r = run("train", "-p", "onehot", "--epochs", "1", "--limit-train", "256", "--out", out,
                "--quiet", "--json", *flag)
        assert r.exit_code == 0, r.output
        acc[out] = json.loads(r.output)
    assert acc["c"]["accuracy"] == pytest.approx(acc["e"]["accuracy"], abs=0.02)

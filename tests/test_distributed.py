"""The generated module trains under DistributedDataParallel: two CPU processes (gloo, loopback)
each take half a batch, and the averaged gradients equal one process's gradients on the whole batch.

PyTorch 2.13 accepts SyncBatchNorm only in GPU modules (DistributedDataParallel refuses a CPU
module that holds one), so on CPU the batch-norm network trains with its normalisation statistics
fixed (the batch-norm layers in eval mode, as when fine-tuning; their weights and biases still
learn), and the conversion itself is checked apart: `convert_sync_batchnorm` keeps the state dict
and the outputs of the generated module."""

from __future__ import annotations

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import archlang

BN_NET = """
network bn_net
input 8x8x3
block unit(c) { residual(conv 3x3 p1 x(c) nobias -> bn -> relu -> conv 3x3 p1 x(c) nobias -> bn) -> relu }
stem = conv 3x3 p1 x8 nobias -> bn -> relu
body = unit(8) * 2
head = gap -> flatten -> fc 4
"""

FROZEN_NET = """
network frozen_net
input 8x8x3
backbone = freeze(conv 3x3 p1 x8 -> relu -> conv 3x3 s2 p1 x8 -> relu)
head = conv 1x1 x6 -> relu -> flatten -> fc 4
"""

BATCH = 6  # 3 samples per process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(spec: str, sync_bn: bool) -> nn.Module:
    torch.manual_seed(0)
    model = archlang.compile(spec)
    with torch.no_grad():  # statistics away from 0 and 1, so that using them matters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()  # fixed statistics: see the module docstring
    return model


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(BATCH, 3, 8, 8, generator=g), torch.randint(0, 4, (BATCH,), generator=g)


def gradients(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k.removeprefix("module."): p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


SPECS = {"batchnorm": BN_NET, "freeze": FROZEN_NET}


def worker(rank: int, port: int, queue) -> None:
    """One of two processes: each network, half the batch, gradients averaged by DDP."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        for name, spec in SPECS.items():
            model = nn.parallel.DistributedDataParallel(build(spec, sync_bn=False))
            x, y = data()
            half = slice(rank * BATCH // 2, (rank + 1) * BATCH // 2)
            nn.functional.cross_entropy(model(x[half]), y[half]).backward()
            if rank == 0:
                queue.put((name, {k: v.numpy() for k, v in gradients(model).items()}))
    finally:
        dist.destroy_process_group()


def single_process_gradients(spec: str) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    model = build(spec, sync_bn=False)
    x, y = data()
    nn.functional.cross_entropy(model(x), y).backward()
    return model, gradients(model)


def test_ddp_gradients_equal_single_process() -> None:
    queue = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(worker, args=(free_port(), queue), nprocs=2, join=True, start_method="spawn")
    results = dict(queue.get() for _ in SPECS)
    for name, spec in SPECS.items():
        single, expected = single_process_gradients(spec)
        got = results[name]
        assert sorted(got) == sorted(expected), name
        if name == "freeze":  # frozen layers get no gradient in either run
            assert sorted(expected) == ["head_conv1.bias", "head_conv1.weight", "head_fc1.bias", "head_fc1.weight"]
        else:
            assert len(expected) == len(list(single.parameters())) == 17
        for key, grad in expected.items():
            assert grad.abs().max() > 0, key
            torch.testing.assert_close(torch.from_numpy(got[key]), grad, rtol=1e-5, atol=1e-6)


def test_sync_batchnorm_conversion_keeps_the_state_dict() -> None:
    model = build(BN_NET, sync_bn=False)
    converted = build(BN_NET, sync_bn=True)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in converted.modules()) == 5
    assert [(k, v.shape) for k, v in converted.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()]
    x, _ = data()
    with torch.no_grad():
        torch.testing.assert_close(converted.eval()(x), model.eval()(x))

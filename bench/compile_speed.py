"""Does the compiled model cost anything over hand-written PyTorch? ResNet-50 from
specs/resnet.arch against the same network written directly here, same weights.

    python bench/compile_speed.py [--runs 9] [--batch 16] [--device cpu|cuda|all]

Reports the median forward time of each (eval mode, torch.inference_mode, 224x224 input),
their ratio (goal <= 1.02), and the construction time of each."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archlang  # noqa: E402


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], 64
        for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(n):
                blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*blocks)
        self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2048, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def forward_times(models: dict[str, nn.Module], x: torch.Tensor, runs: int) -> dict[str, float]:
    """Median forward time of each model, interleaved so that drift hits both alike."""
    cuda = x.is_cuda
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():  # warm-up (cuDNN autotuning, allocator)
            model(x)
            model(x)
        for _ in range(runs):
            for name, model in models.items():
                if cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                model(x)
                if cuda:
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench(device: str, runs: int, batch: int) -> None:
    torch.manual_seed(0)
    hand, hand_build = timed(lambda: ResNet50())
    spec, spec_build = timed(lambda: archlang.compile(ROOT / "specs" / "resnet.arch", depth=50))
    report = archlang.load_weights(spec, hand.state_dict())
    assert report.complete, report.summary()
    models = {"hand-written": hand.to(device).eval(), "archlang": spec.to(device).eval()}
    x = torch.randn(batch, 3, 224, 224, device=device)
    with torch.inference_mode():
        assert torch.allclose(models["hand-written"](x), models["archlang"](x), rtol=1e-4, atol=1e-4)
    t = forward_times(models, x, runs)
    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"ResNet-50, batch {batch}, 224x224, eval, inference_mode, {name}, median of {runs}:")
    print(f"  forward   hand-written {t['hand-written'] * 1000:9.1f} ms   archlang {t['archlang'] * 1000:9.1f} ms"
          f"   ratio {t['archlang'] / t['hand-written']:.3f} (goal <= 1.02)")
    print(f"  construct hand-written {hand_build * 1000:9.1f} ms   archlang {spec_build * 1000:9.1f} ms"
          f"   (archlang: parse, analyse, generate, exec, build)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="all", choices=("cpu", "cuda", "all"))
    args = parser.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("cuda: no CUDA device here, skipped")
            continue
        bench(device, args.runs, args.batch)


if __name__ == "__main__":
    main()

"""Transfer learning: networks written by hand in PyTorch here (no downloads, no torchvision)
have their weights copied into the compiled specs by registration order, and give the same
outputs; heads can be skipped, checkpoints read from files, models saved and loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archlang
from archlang.emit.weights import load_model, read_state_dict
from conftest import SPECS, run_cli, write

RTOL, ATOL = 1e-5, 1e-6


def conv_bn(cin: int, cout: int, k: int, s: int = 1, groups: int = 1, eps: float = 1e-5,
            act: type[nn.Module] | None = nn.ReLU, momentum: float = 0.1) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout, eps=eps, momentum=momentum)]
    return layers + ([act()] if act else [])


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.maxpool(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.Sequential(nn.Conv2d(192, 64, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(192, 96, 1), nn.ReLU(), nn.Conv2d(96, 128, 3, padding=1), nn.ReLU())
        self.b3 = nn.Sequential(nn.Conv2d(192, 16, 1), nn.ReLU(), nn.Conv2d(16, 32, 5, padding=2), nn.ReLU())
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(192, 32, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, t: int):
        super().__init__()
        hidden = cin * t
        layers = [] if t == 1 else conv_bn(cin, hidden, 1, act=nn.ReLU6)
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6)
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(nn.functional.silu(self.fc1(s))))


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, t: int):
        super().__init__()
        hidden = cin * t
        self.block = nn.Sequential(*conv_bn(cin, hidden, 1, act=nn.SiLU),
                                   *conv_bn(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU),
                                   SqueezeExcite(hidden, max(1, cin // 4)),
                                   *conv_bn(hidden, cout, 1, act=None))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


def randomise(model: nn.Module) -> nn.Module:
    """Non-trivial batch-norm statistics, so that a misplaced tensor shows in the outputs."""
    torch.manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def same_outputs(reference: nn.Module, compiled: nn.Module, x: torch.Tensor) -> None:
    report = archlang.load_weights(compiled, reference.state_dict())
    assert report.complete, report.summary()
    with torch.no_grad():
        expected, got = reference(x), compiled.eval()(x)
    assert torch.allclose(got, expected, rtol=RTOL, atol=ATOL), (got - expected).abs().max()


def test_resnet18_by_hand() -> None:
    reference = randomise(ResNet18(classes=1000))
    same_outputs(reference, archlang.compile(SPECS / "resnet.arch", depth=18), torch.randn(2, 3, 224, 224))


def test_inception_module_by_hand() -> None:
    same_outputs(randomise(Inception()), archlang.compile(SPECS / "inception_module.arch"),
                 torch.randn(2, 192, 28, 28))


def test_mobilenet_v2_stage_by_hand(tmp_path: Path) -> None:
    spec = write(tmp_path, "stage.arch", f'use "{SPECS / "mobilenet_v2.arch"}"\ninput 56x56x24\n'
                 "bottlenecks(6, 32, 3, 2)\n")
    reference = randomise(nn.Sequential(InvertedResidual(24, 32, 2, 6), InvertedResidual(32, 32, 1, 6),
                                        InvertedResidual(32, 32, 1, 6)))
    same_outputs(reference, archlang.compile(spec), torch.randn(2, 24, 56, 56))


def test_efficientnet_mbconv_with_squeeze_excite_by_hand(tmp_path: Path) -> None:
    spec = write(tmp_path, "mb.arch", f'use "{SPECS / "efficientnet.arch"}"\ninput 28x28x40\n'
                 "mbconv(40, 5, 1, 6) -> mbconv(80, 3, 2, 6)\n")
    reference = randomise(nn.Sequential(MBConv(40, 40, 5, 1, 6), MBConv(40, 80, 3, 2, 6)))
    same_outputs(reference, archlang.compile(spec), torch.randn(2, 40, 28, 28))


def test_depthwise_separable_by_hand() -> None:
    reference = randomise(nn.Sequential(nn.Conv2d(3, 3, 3, groups=3, bias=False), nn.Conv2d(3, 5, 1, bias=False)))
    same_outputs(reference, archlang.compile(SPECS / "conv_separable.arch"), torch.randn(2, 3, 6, 6))


def test_new_head_is_skipped_and_reported() -> None:
    reference = randomise(ResNet18(classes=1000))
    model = archlang.compile(SPECS / "resnet.arch", depth=18, classes=10).eval()
    report = archlang.load_weights(model, reference.state_dict(), skip="head")
    assert report.skipped == ["head_fc1.weight", "head_fc1.bias"]
    assert report.unused == ["fc.weight", "fc.bias"] and not report.missing
    seen: list[torch.Tensor] = []
    model.head_gap1.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model(x)
        trunk = reference.layers(reference.maxpool(torch.relu(reference.bn1(reference.conv1(x)))))
    assert torch.allclose(seen[0], trunk, rtol=RTOL, atol=ATOL)  # the whole trunk carried over


def test_mismatch_is_reported_not_guessed() -> None:
    model = archlang.compile("input 8x8x3\nconv 3x3 x4 -> conv 3x3 x8\n")
    wrong = {"a.weight": torch.zeros(4, 3, 3, 3), "a.bias": torch.zeros(4), "b.weight": torch.zeros(9, 4, 3, 3)}
    report = archlang.load_weights(model, wrong)
    assert [t for t, _ in report.copied] == ["conv1.weight", "conv1.bias"]
    assert report.missing == ["conv2.weight", "conv2.bias"] and report.unused == ["b.weight"]
    with pytest.raises(ValueError):
        archlang.load_weights(model, wrong, strict=True)


def test_checkpoint_files_and_save_load(tmp_path: Path) -> None:
    reference = randomise(Inception())
    ckpt = tmp_path / "inception.pth"
    torch.save({"state_dict": reference.state_dict()}, ckpt)
    assert list(read_state_dict(ckpt)) == list(reference.state_dict())
    saved = tmp_path / "model.pt"
    status, _, err = run_cli("compile", str(SPECS / "inception_module.arch"), "--weights", str(ckpt),
                             "--save", str(saved))
    assert status == 0 and "copied 12 tensors" in err and "saved" in err
    model = load_model(saved).eval()
    x = torch.randn(1, 192, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), rtol=RTOL, atol=ATOL)
    status, _, err = run_cli("compile", str(SPECS / "inception_module.arch"), "--weights", str(tmp_path / "none.pth"))
    assert status == 2 and "cannot read weights" in err


def test_own_parameter_registered_before_the_layers_loads_by_order(tmp_path: Path) -> None:
    """A module's own parameter precedes its submodules' in PyTorch's state dict (torchvision's
    ConvNeXt block: `layer_scale`, then `block.0`); archlang's layerscale `gamma` comes after the
    convolution it scales. Loading by order still places it, block by block."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer_scale = nn.Parameter(torch.randn(8, 1, 1))
            self.block = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.layer_scale * self.block(x)

    torch.manual_seed(0)
    reference = nn.Sequential(Block(), Block()).eval()
    spec = write(tmp_path, "ls.arch", "network ls\ninput 6x6x8\nblock b() { residual(conv 3x3 p1 x8 -> layerscale) }\n"
                 "b() -> b()\n")
    model = archlang.compile(spec).eval()
    report = archlang.load_weights(model, reference)
    assert report.complete and not report.unused
    assert [theirs for _, theirs in report.copied] == ["0.block.weight", "0.block.bias", "0.layer_scale",
                                                        "1.block.weight", "1.block.bias", "1.layer_scale"]
    x = torch.randn(2, 8, 6, 6)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), reference(x))

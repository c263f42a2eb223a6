"""`archlang import` and `archlang.from_torch` on hand-written modules: a small ResNet-like network,
a squeeze-and-excite network with a channel split, and what cannot be imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import archlang
from archlang.importer.target import parse_input
from conftest import run_cli
from importing import round_trip


class Basic(nn.Module):
    def __init__(self, cin: int, c: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.down = None if stride == 1 and cin == c else nn.Sequential(
            nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.down is None else self.down(x)))


class TinyResNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.layer1 = nn.Sequential(Basic(8, 8), Basic(8, 8), Basic(8, 8))
        self.layer2 = nn.Sequential(Basic(8, 16, 2), Basic(16, 16))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layer2(self.layer1(self.stem(x)))), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * scale


class SplitUnit(nn.Module):
    """ShuffleNet-like: half the channels pass, half go through a branch with squeeze-and-excite."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(c // 2, c // 2, 3, padding=1, groups=c // 2, bias=False),
                                    nn.BatchNorm2d(c // 2), nn.Hardswish(), SqueezeExcite(c // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.cat((a, self.branch(b)), dim=1)


class SplitNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.units = nn.Sequential(SplitUnit(16), SplitUnit(16))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * 8 * 8, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F_relu6(self.units(self.stem(x))))


def F_relu6(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.relu6(x)


def randomise_batch_norm(model: nn.Module) -> nn.Module:
    """Batch norm statistics away from 0 and 1, so that a misplaced tensor changes the output."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


def test_resnet_like_round_trip_writes_blocks_once() -> None:
    torch.manual_seed(0)
    text = round_trip(randomise_batch_norm(TinyResNet()), (3, 16, 16))
    lines = text.splitlines()
    assert lines[:4] == ["# tiny_res_net: imported from TinyResNet by `archlang import`",
                         "# 12,306 parameters; input 16x16x3, shapes are HxWxC",
                         "network tiny_res_net", "input 16x16x3"]
    assert "layer1 = basic() * 3" in lines and "layer2 = basic_2() -> basic()" in lines
    assert "block basic() {" in lines
    assert "  residual(conv 3x3 s1 p1 x(in.c) nobias -> bn -> relu -> conv 3x3 s1 p1 x(in.c) nobias -> bn)" in lines
    assert "fc_out = fc 10" in lines  # `fc` is an op: the binding is renamed, not shadowing it


def test_split_and_squeeze_excite_round_trip() -> None:
    torch.manual_seed(1)
    text = round_trip(randomise_batch_norm(SplitNet()), (3, 16, 16))
    assert "concat(chunk 2 0, chunk 2 1 -> " in text
    assert "mul(identity, gap -> conv 1x1 s1 p0 x2 -> relu -> conv 1x1 s1 p0 x8 -> sigmoid)" in text
    assert "units = split_unit() * 2" in text


def test_vector_input_round_trip() -> None:
    torch.manual_seed(2)
    mlp = nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 3), nn.LogSoftmax(1))
    text = round_trip(randomise_batch_norm(mlp), (20,))
    assert "input 20" in text and "layer2 = leakyrelu 0.2" in text


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.blocks = nn.Sequential(Rolling(), nn.LayerNorm([4, 6, 6]))
        self.unused = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return custom_scale(self.blocks(self.conv(x)))


class Rolling(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(x, 1, dims=2) + 1


def custom_scale(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=0)


def test_every_unsupported_op_is_reported_with_its_module() -> None:
    with pytest.raises(archlang.ArchError) as caught:
        archlang.from_torch(Unsupported(), (3, 8, 8))
    assert caught.value.render().splitlines() == [
        "error: cannot import `torch.roll` in `blocks.0` (Rolling)",
        "error: cannot import `add` of a tensor and a constant or parameter in `blocks.0` (Rolling)",
        "help: archlang adds and multiplies the tensors that layers compute",
        "error: cannot import `LayerNorm` in `blocks.1` (LayerNorm)",
        "help: `layernorm` comes with version 2 of the language",
        "error: cannot import `Tensor.clamp` in the forward of Unsupported",
        "error: cannot import 12 parameters of a module that does not run in forward in `unused` (Linear)",
        "help: every module with parameters must run in eval mode to be imported",
    ]


MODULE = '''
import torch
from torch import nn

def small():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 14 * 14, 10))

class Rolled(nn.Module):
    def forward(self, x):
        return torch.roll(x, 1, dims=3)
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "usermodels.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    sys.modules.pop("usermodels", None)


def test_cli_writes_a_spec_that_checks(user_module: Path) -> None:
    status, out, err = run_cli("import", "usermodels:small", "--input", "1x28x28", "-o", "small.arch")
    assert (status, out, err) == (0, "", "wrote small.arch\n")
    text = (user_module / "small.arch").read_text(encoding="utf-8")
    assert "input 28x28x1" in text
    report = archlang.check(user_module / "small.arch")
    assert report.totals.params == 4 * 9 + 4 + 4 * 14 * 14 * 10 + 10


def test_cli_reports_unsupported_ops_with_status_1(user_module: Path) -> None:
    status, out, err = run_cli("import", "usermodels:Rolled", "--input", "3x8x8", "-o", "r.arch")
    assert (status, out) == (1, "")
    assert err == "error: cannot import `torch.roll` in the forward of Rolled\n"
    assert not (user_module / "r.arch").exists()


@pytest.mark.parametrize("target, message", [
    ("usermodels", "error: `usermodels` is not MODULE:CALLABLE"),
    ("nosuchmodule:x", "error: cannot import `nosuchmodule`: No module named 'nosuchmodule'"),
    ("usermodels:missing", "error: `usermodels` has no `missing`"),
    ("usermodels:MODULE_LEVEL", "error: `usermodels` has no `MODULE_LEVEL`"),
])
def test_cli_bad_targets_are_usage_errors(user_module: Path, target: str, message: str) -> None:
    status, _, err = run_cli("import", target)
    assert status == 2 and err.splitlines()[0] == message


@pytest.mark.parametrize("text, shape", [("3x224x224", (3, 224, 224)), ("224x224x3", (3, 224, 224)),
                                         ("1x28x28", (1, 28, 28)), ("32x32x32", (32, 32, 32)),
                                         ("64x48x3", (3, 64, 48)), ("784", (784,))])
def test_input_orders(text: str, shape: tuple[int, ...]) -> None:
    assert parse_input(text) == shape

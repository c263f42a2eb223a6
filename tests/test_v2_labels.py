"""Version 2 labels: `LABEL: ELEMENT` names modules and block instances in tables, diagrams and
state_dict keys; `load_weights(by="name")` loads a checkpoint whose registration order differs
from execution order (a hand-written C3 block registers cv1, cv2, cv3, then m)."""

from __future__ import annotations

import pytest

import archlang
from archlang.api import analyse
from archlang.core.errors import ArchError
from conftest import run_cli, write

C3 = """network c3net(n = 2)
input 16x16x8
block cbs(c, k = 1) { conv: conv (k)x(k) same x(c) nobias -> bn: bn -> silu }
block bottleneck() { residual(cv1: cbs(in.c, 3) -> cv2: cbs(in.c, 3)) }
block c3(c) {
  concat(cv1: cbs(c // 2) -> m: (bottleneck() * n), cv2: cbs(c // 2)) -> cv3: cbs(c)
}
stem: conv 3x3 same x16
c3(16)
"""


def test_labels_name_layers_and_block_instances() -> None:
    names = [n.name for n in analyse(C3).layers if n.has_module and n.op != "silu"]
    assert names == ["stem", "c3_1.cv1.conv", "c3_1.cv1.bn",
                     "c3_1.m.0.cv1.conv", "c3_1.m.0.cv1.bn", "c3_1.m.0.cv2.conv", "c3_1.m.0.cv2.bn",
                     "c3_1.m.1.cv1.conv", "c3_1.m.1.cv1.bn", "c3_1.m.1.cv2.conv", "c3_1.m.1.cv2.bn",
                     "c3_1.cv2.conv", "c3_1.cv2.bn", "c3_1.cv3.conv", "c3_1.cv3.bn"]


def test_labels_in_folded_tables_and_diagrams() -> None:
    report = archlang.check(C3)
    assert [r.name for r in report.fold(1).rows] == ["stem", "c3_1.cv1", "c3_1.m.0", "c3_1.m.1", "c3_1.cv2",
                                                     "c3_1.concat1", "c3_1.cv3"]
    assert sum(r.params for r in report.fold(1).rows) == report.totals.params
    from archlang.emit.dot import to_dot

    dot = to_dot(analyse(C3), depth=1)
    assert "<b>cv1: cbs(c=8, k=1)</b>" in dot and "label=<m>;" in dot and "<b>cv3: cbs(c=16, k=1)</b>" in dot
    assert "<b>0: bottleneck()</b>" in dot


@pytest.mark.parametrize("spec, message", [
    ("input 8x8x3\na: conv 1x1 x2 -> a: relu\n", "label `a` is used twice in one scope"),
    ("input 8x8x3\nconcat(a: conv 1x1 x2, a: conv 1x1 x3)\n", "label `a` is used twice in one scope"),
    ("input 8x8x3\nx = conv 1x1 x2\nl: x -> relu\n", "a label names a layer or a block call"),
])
def test_label_mistakes(spec: str, message: str) -> None:
    with pytest.raises(ArchError) as info:
        analyse(spec)
    assert message in info.value.render()


def test_same_label_in_different_scopes_and_repeats() -> None:
    graph = analyse("block b() { cv: conv 1x1 x2 }\ninput 8x8x3\nb() -> b()\n(z: conv 1x1 x2) * 2\n")
    assert [n.name for n in graph.layers] == ["b1.cv", "b2.cv", "z", "z_2"]


def reference_c3(n: int):
    """A hand-written C3 block (as in YOLOv5/v8) with a 3x3 stem: cv1, cv2, cv3 registered before m."""
    from torch import cat, nn

    class Conv(nn.Module):
        def __init__(self, c1: int, c2: int, k: int = 1):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, k, 1, k // 2, bias=False)
            self.bn = nn.BatchNorm2d(c2)
            self.act = nn.SiLU()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class Bottleneck(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)

        def forward(self, x):
            return x + self.cv2(self.cv1(x))

    class C3(nn.Module):
        def __init__(self, c1: int, c2: int):
            super().__init__()
            self.cv1, self.cv2, self.cv3 = Conv(c1, c2 // 2), Conv(c1, c2 // 2), Conv(c2, c2)
            self.m = nn.Sequential(*(Bottleneck(c2 // 2) for _ in range(n)))

        def forward(self, x):
            return self.cv3(cat((self.m(self.cv1(x)), self.cv2(x)), 1))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(8, 16, 3, padding=1)
            self.c3_1 = C3(16, 16)

        def forward(self, x):
            return self.c3_1(self.stem(x))

    return Net()


def test_load_by_name_where_order_differs(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = reference_c3(2).eval()
    for module in reference.modules():  # non-trivial statistics, so that a wrong pairing shows
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    model = archlang.compile(C3).eval()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in model.parameters()) == archlang.check(C3).totals.params
    state = reference.state_dict()
    report = archlang.load_weights(model, state, by="name", strict=True)
    assert report.complete and len(report.copied) == len(state)
    assert ("c3_1_m_0_cv1_conv.weight", "c3_1.m.0.cv1.conv.weight") in report.copied
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5)
    by_order = archlang.load_weights(archlang.compile(C3), state)  # by order, cv2 and m are swapped
    assert not by_order.complete or by_order.copied != report.copied

    path = tmp_path / "c3.pt"
    torch.save(state, path)
    spec = write(tmp_path, "c3.arch", C3)
    status, out, err = run_cli("compile", str(spec), "--weights", str(path), "--weights-by", "name", "--verify")
    assert status == 0 and f"copied {len(state)} tensors" in err and "verified" in out


def test_load_by_name_from_an_archlang_checkpoint() -> None:
    torch = pytest.importorskip("torch")
    first, second = archlang.compile(C3), archlang.compile(C3)
    report = archlang.load_weights(second, first.state_dict(), by="name", strict=True)
    assert report.complete
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    with pytest.raises(ValueError):
        archlang.load_weights(second, first.state_dict(), by="shape")

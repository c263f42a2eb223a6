"""Augmentation ops through the whole pipeline: the table (zero parameters and multiplies, marked
training-only), JSON, diagrams, the compiled model (repeatable under torch.manual_seed, the
identity in eval except randomcrop's centre crop), verify and the standalone generated file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

import archlang
from archlang.api import load
from archlang.emit.build import to_hwc, verify
from archlang.emit.codegen import generate
from archlang.emit.dot import FILLS, to_dot
from conftest import run_cli, write

CHAIN = ("randomcrop 24x24 pad=4 -> hflip -> vflip p=0.3 -> rotate 20 -> "
         "colorjitter brightness=0.4 contrast=0.3 saturation=0.2 -> pcacolor std=0.2")
SPEC = f"network augmented\ninput 28x30x3\n{CHAIN} -> conv 3x3 x4 -> gap -> flatten\n"
AUGMENTS = ["randomcrop", "hflip", "vflip", "rotate", "colorjitter", "pcacolor"]


def test_table_marks_augmentation_with_no_params_or_mults() -> None:
    report = archlang.check(SPEC)
    rows = report.rows[:6]
    assert [r.op.split()[0] for r in rows] == AUGMENTS
    assert all(r.training_only and r.params == 0 and r.mults == 0 for r in rows)
    assert not any(r.training_only for r in report.rows[6:])
    assert [r.output for r in rows] == [(24, 24, 3)] * 6
    text = str(report)
    assert all(f"{op}1 (training only)" in text for op in AUGMENTS)
    assert "conv1 (training only)" not in text and "conv1 " in text


def test_json_rows_carry_training_only(tmp_path: Path) -> None:
    status, out, _ = run_cli("check", str(write(tmp_path, "aug.arch", SPEC)), "--format", "json")
    assert status == 0
    layers = json.loads(out)["layers"]
    assert [layer.get("training_only", False) for layer in layers] == [True] * 6 + [False] * 3
    assert "training_only" not in layers[6]  # other rows keep their keys


def test_diagram_colours_augmentation() -> None:
    dot = to_dot(load(SPEC))
    assert dot.count(f'fillcolor="{FILLS["augment"]}"') == 6
    assert "hflip  (training only)" in dot


def test_compiled_model_is_repeatable_under_manual_seed() -> None:
    model = archlang.compile(SPEC).train()
    x = torch.rand(6, 3, 28, 30)
    torch.manual_seed(11)
    first = model(x)
    torch.manual_seed(11)
    again = model(x)
    torch.manual_seed(12)
    other = model(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("text", ["hflip", "vflip p=1", "rotate 45", "colorjitter brightness=0.5 contrast=0.5",
                                  "pcacolor std=1", "hflip p=1 -> vflip p=1 -> rotate 10"])
def test_augmentation_is_the_identity_in_eval(text: str) -> None:
    model = archlang.compile(f"input 9x7x3\n{text}").eval()
    x = torch.randn(4, 3, 9, 7)
    assert torch.equal(model(x), x)
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(x), x)  # and it does act in training


@pytest.mark.parametrize("size, pad, h, w", [((5, 4), 0, 9, 7), ((6, 6), 0, 9, 7), ((12, 10), 2, 9, 7)])
def test_randomcrop_crops_the_centre_in_eval(size: tuple[int, int], pad: int, h: int, w: int) -> None:
    text = f"input {h}x{w}x2\nrandomcrop {size[0]}x{size[1]}" + (f" pad={pad}" if pad else "")
    model = archlang.compile(text).eval()
    x = torch.randn(3, 2, h, w)
    padded = F.pad(x, (pad, pad, pad, pad))
    top, left = (h + 2 * pad - size[0]) // 2, (w + 2 * pad - size[1]) // 2
    assert torch.equal(model(x), padded[..., top:top + size[0], left:left + size[1]])
    assert load(text).layers[0].shape == (size[0], size[1], 2)


def test_randomcrop_in_training_takes_every_sample_from_the_padded_image() -> None:
    model = archlang.compile("input 6x6x1\nrandomcrop 6x6 pad=2").train()
    x = torch.arange(1.0, 37.0).reshape(1, 1, 6, 6).repeat(200, 1, 1, 1)
    torch.manual_seed(4)
    y = model(x)
    padded = F.pad(x[:1], (2, 2, 2, 2))[0, 0]
    windows = {(t, l): padded[t:t + 6, l:l + 6] for t in range(5) for l in range(5)}
    placed = [next(k for k, win in windows.items() if torch.equal(win, y[i, 0])) for i in range(len(y))]
    assert len(set(placed)) == 25  # every one of the 5 x 5 places is drawn in 200 samples


def test_flips_with_probability_one() -> None:
    x = torch.randn(3, 2, 4, 5)
    assert torch.equal(archlang.compile("input 4x5x2\nhflip p=1").train()(x), x.flip(-1))
    assert torch.equal(archlang.compile("input 4x5x2\nvflip p=1").train()(x), x.flip(-2))
    assert torch.equal(archlang.compile("input 4x5x2\nhflip p=0").train()(x), x)


def test_shapes_and_verify() -> None:
    graph = load(SPEC)
    result = verify(graph)
    assert result.ok and len(result.layers) == len(graph.layers) == 9
    model = archlang.compile(SPEC)
    assert sum(p.numel() for p in model.parameters()) == 3 * 4 * 9 + 4 == report_params(SPEC)
    for training in (True, False):
        assert to_hwc(model.train(training)(torch.rand(2, 3, 28, 30)).shape) == (4,)


def report_params(text: str) -> int:
    return archlang.check(text).totals.params


def test_generated_file_runs_without_archlang_and_repeats_the_draws(tmp_path: Path) -> None:
    model = archlang.compile(SPEC).train()
    path = tmp_path / "augmented_model.py"
    path.write_text(generate(load(SPEC)))
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    x = torch.rand(5, 3, 28, 30)
    torch.save(x, tmp_path / "x.pt")
    script = f"""
import sys, importlib.util
sys.modules['archlang'] = None  # archlang must not be needed to use the generated file
import torch
spec = importlib.util.spec_from_file_location('m', {str(path)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
model = m.Augmented().train()
model.load_state_dict(torch.load({str(tmp_path / 'weights.pt')!r}))
torch.manual_seed(21)
torch.save(model(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    torch.manual_seed(21)
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "y.pt"), model(x))


@pytest.mark.parametrize("text, message", [
    ("input 8x8x4\npcacolor", "`pcacolor` shifts RGB colours, but the input has 4 channels"),
    ("input 8x8x8\ncolorjitter contrast=0.2", "contrast and saturation need 3 (RGB) or 1 (grey) channels"),
    ("input 8x8x3\nrandomcrop 12x12 pad=1", "a 12x12 crop does not fit in the 10x10 input padded by 1"),
    ("input 8x8x3\nhflip p=2", "flip probability 2 is not between 0 and 1"),
    ("input 10\nhflip", "`hflip` needs an HxWxC volume"),
    ("input 8x8x3\nrotate", "`rotate` needs degrees"),
    ("input 8x8x3\ncolorjitter hue=0.1", "`colorjitter` takes no keyword `hue`"),
])
def test_mistakes_are_diagnostics(tmp_path: Path, text: str, message: str) -> None:
    status, _, err = run_cli("check", str(write(tmp_path, "bad.arch", text + "\n")))
    assert status == 1 and message in err and "Traceback" not in err, err


def test_ops_lists_augmentation() -> None:
    status, out, _ = run_cli("ops")
    assert status == 0
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(AUGMENTS) | {"droppath", "layerscale", "layernorm", "groupnorm", "instancenorm", "resize"} <= listed

"""A saved model is data: loading it analyses the stored spec again and generates the model;
no code stored in the file runs, whatever the file says."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from archlang.emit.weights import load_model, save_model  # noqa: E402
from conftest import run_cli, write  # noqa: E402

MARKER_CODE = (
    "import pathlib\n"
    "pathlib.Path({marker!r}).write_text('pwned')\n"
    "import torch\n"
    "class Evil(torch.nn.Module):\n"
    "    pass\n"
)


def _crafted(tmp_path: Path, payload: dict) -> Path:
    path = tmp_path / "evil.pt"
    torch.save(payload, path)
    return path


def test_a_file_with_code_in_the_old_format_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = _crafted(tmp_path, {"format": "archlang-model/1", "class": "Evil",
                               "source": MARKER_CODE.format(marker=str(marker)), "state_dict": {}})
    with pytest.raises(ValueError, match="no\\s+longer runs"):
        load_model(path)
    assert not marker.exists()


def test_code_beside_a_valid_spec_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    model = archlang.compile(spec)
    good = tmp_path / "good.pt"
    save_model(model, good)
    payload = torch.load(good, weights_only=True)
    payload["source"] = MARKER_CODE.format(marker=str(marker))
    payload["class"] = "Evil"
    crafted = _crafted(tmp_path, payload)
    loaded = load_model(crafted)
    assert not marker.exists()
    assert type(loaded).__name__ == "Net"
    x = torch.randn(2, 4)
    assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("spec", [None, "not a dict", {"file": 1}, {
    "file": "a.arch", "origin": "/a.arch", "text": "input 4\nfc 3\n", "files": {}, "params": {},
    "input": ["__import__('os')"]}])
def test_a_malformed_spec_description_is_refused(tmp_path: Path, spec: object) -> None:
    path = _crafted(tmp_path, {"format": "archlang-model/2", "class": "X", "spec": spec, "state_dict": {}})
    with pytest.raises(ValueError, match="no valid spec description"):
        load_model(path)


def test_a_stored_spec_that_does_not_analyse_is_refused(tmp_path: Path) -> None:
    spec = {"file": "a.arch", "origin": "/a.arch", "text": "input 4\nbogus 3\n", "files": {}, "params": {},
            "input": [4]}
    path = _crafted(tmp_path, {"format": "archlang-model/2", "class": "X", "spec": spec, "state_dict": {}})
    with pytest.raises(ValueError, match="unknown op or name `bogus`"):
        load_model(path)


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    good = tmp_path / "good.pt"
    save_model(archlang.compile(spec), good)
    payload = torch.load(good, weights_only=True)
    payload["state_dict"] = {"fc1.weight": torch.zeros(5, 5), "fc1.bias": torch.zeros(5)}
    with pytest.raises(ValueError, match="do not fit"):
        load_model(_crafted(tmp_path, payload))


def test_a_model_with_used_files_loads_without_them(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    write(folder, "lib.arch", "k = 3\nblock unit(c) { conv (k)x(k) x(c) same -> relu }\n")
    spec = write(folder, "net.arch", 'network net(c = 4)\nuse "lib.arch"\ninput 8x8x3\nunit(c) -> flatten -> fc 2\n')
    saved = tmp_path / "net.pt"
    status, _, err = run_cli("compile", str(spec), "-D", "c=6", "--save", str(saved))
    assert status == 0, err
    shutil.rmtree(folder)
    model = load_model(saved).eval()
    assert model.unit1_conv1.out_channels == 6 and model.unit1_conv1.kernel_size == (3, 3)
    assert tuple(model(torch.randn(1, 3, 8, 8)).shape) == (1, 2)


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_unreadable_files_are_value_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_model(path)

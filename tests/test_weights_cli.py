"""`compile --weights` on the command line: incomplete loads are visible (`--strict` makes them
an error), reports stay readable, bad checkpoints are file errors (exit 2), options that do
nothing are said to do nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import archlang  # noqa: E402
from conftest import SPECS, run_cli, write  # noqa: E402


@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "resnet18.pth"
    model = archlang.compile(SPECS / "resnet.arch", depth=18, classes=10)
    torch.save(model.state_dict(), path)
    return path


def test_resnet18_weights_into_resnet34_report_by_module(resnet18_checkpoint: Path, tmp_path: Path) -> None:
    args = ("compile", str(SPECS / "resnet.arch"), "-D", "depth=34", "-D", "classes=10",
            "--weights", str(resnet18_checkpoint))
    status, _, err = run_cli(*args)
    assert status == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("copied ") and any(line.startswith("found nothing for ") for line in lines)
    assert max(len(line) for line in lines) < 200
    assert "note: the loaded weights were not saved" in err
    saved = tmp_path / "m.pt"
    status, _, err = run_cli(*args, "--strict", "--save", str(saved))
    assert status == 1 and "--strict" in err and "nothing was saved" in err
    assert not saved.exists()


def test_an_empty_model_dict_is_strictly_an_error(tmp_path: Path) -> None:
    ckpt = tmp_path / "empty.pth"
    torch.save({"model": {}}, ckpt)
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    status, _, err = run_cli("compile", str(spec), "--weights", str(ckpt))
    assert status == 0 and "copied 0 tensors" in err and "found nothing for 2" in err
    status, _, err = run_cli("compile", str(spec), "--weights", str(ckpt), "--strict")
    assert status == 1


@pytest.mark.parametrize("content, reason", [
    (b"", "not a readable PyTorch checkpoint"), (b"\x80\x02garbage", "not a readable PyTorch checkpoint"),
    (b"PK\x03\x04\x14\x00truncated", "not a readable PyTorch checkpoint"), (None, "holds no tensors")])
def test_bad_checkpoints_are_file_errors(tmp_path: Path, content: bytes | None, reason: str) -> None:
    ckpt = tmp_path / "bad.pth"
    if content is None:
        torch.save({"epoch": 3, "lr": 0.1}, ckpt)
    else:
        ckpt.write_bytes(content)
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    status, _, err = run_cli("compile", str(spec), "--weights", str(ckpt))
    assert status == 2 and reason in err and "Traceback" not in err, err


def test_skip_that_matches_nothing_warns(tmp_path: Path) -> None:
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    ckpt = tmp_path / "w.pth"
    torch.save(archlang.compile(spec).state_dict(), ckpt)
    status, _, err = run_cli("compile", str(spec), "--weights", str(ckpt), "--skip", "head")
    assert status == 0 and "warning: `--skip head` matches no module" in err


@pytest.mark.parametrize("option", [["--skip", "head"], ["--strict"]])
def test_weight_options_without_weights_are_usage_errors(tmp_path: Path, option: list[str]) -> None:
    spec = write(tmp_path, "net.arch", "input 4\nfc 3\n")
    status, _, err = run_cli("compile", str(spec), *option)
    assert status == 2 and "applies to `--weights`" in err

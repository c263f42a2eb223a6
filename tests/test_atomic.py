"""Output files: symlinks followed, devices and FIFOs written through, modes kept, inputs never
overwritten, no temporary file left behind on an error or on SIGTERM."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from archlang.core.atomic import OutputIsInput, write_atomically
from conftest import ROOT, run_cli, write

SPEC = "input 8x8x3\nconv 3x3 x4\n"


def _temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".archlang-")]


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text("old")
    link = tmp_path / "link.py"
    link.symlink_to(real)
    write_atomically(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.py"
    link.symlink_to(tmp_path / "made.py")
    write_atomically(link, "new")
    assert link.is_symlink() and (tmp_path / "made.py").read_text() == "new"


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomically(fifo, "through the pipe")
    reader.join(10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert _temporaries(tmp_path) == []


def _char_device(tmp_path: Path) -> Path:
    """A scratch character device (the null device's numbers) where we may make one, else the
    system's /dev/null itself, which the write must leave a character device."""
    scratch = tmp_path / "null"
    try:
        os.mknod(scratch, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return scratch
    except (PermissionError, OSError):
        return Path("/dev/null")


def test_a_character_device_is_written_through_not_replaced(tmp_path: Path) -> None:
    device = _char_device(tmp_path)
    before = os.stat(device)
    write_atomically(device, "discarded")
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_compile_to_dev_null_keeps_dev_null(tmp_path: Path) -> None:
    spec = write(tmp_path, "net.arch", SPEC)
    status, _, err = run_cli("compile", str(spec), "-o", "/dev/null")
    assert status == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_text("old")
    target.chmod(0o644)
    write_atomically(target, "new")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644 and target.read_text() == "new"
    target.chmod(0o600)
    write_atomically(target, "newer")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "new.py", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.py").st_mode) == 0o640


def test_an_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    spec = write(tmp_path, "net.arch", SPEC)
    with pytest.raises(OutputIsInput):
        write_atomically(spec, "python", inputs=[spec])
    alias = tmp_path / "alias.arch"
    alias.symlink_to(spec)
    for output in (spec, alias):
        status, _, err = run_cli("compile", str(spec), "-o", str(output))
        assert status == 2 and "it is one of the input files" in err, err
        assert spec.read_text() == SPEC
    status, _, err = run_cli("render", str(spec), "-o", str(tmp_path / "net.dot"))
    assert status == 0, err


def test_a_used_file_cannot_be_the_output(tmp_path: Path) -> None:
    lib = write(tmp_path, "lib.arch", "block b { relu }\n")
    spec = write(tmp_path, "net.arch", 'use "lib.arch"\ninput 8x8x3\nb\n')
    status, _, err = run_cli("compile", str(spec), "-o", str(lib))
    assert status == 2 and "input files" in err
    assert lib.read_text() == "block b { relu }\n"


def test_a_missing_folder_names_no_temporary_path(tmp_path: Path) -> None:
    spec = write(tmp_path, "net.arch", SPEC)
    for output in (tmp_path / "nowhere" / "x.py", tmp_path / "nowhere" / "x.dot"):
        status, _, err = run_cli("compile" if output.suffix == ".py" else "render", str(spec), "-o", str(output))
        assert status == 2 and "folder does not exist" in err and ".archlang-" not in err, err


def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path: Path) -> None:
    program = (
        "import os, sys, time\n"
        "import archlang.core.atomic as a\n"
        "def slow(fd):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(30)\n"
        "a.os.fsync = slow\n"
        f"a.write_atomically({str(tmp_path / 'out.pt')!r}, b'x' * 1000)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", program], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    assert len(_temporaries(tmp_path)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == -signal.SIGTERM
    assert _temporaries(tmp_path) == [] and not (tmp_path / "out.pt").exists()


def test_an_error_while_writing_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.py"
    target.write_text("old")

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("archlang.core.atomic.os.fsync", broken)
    with pytest.raises(OSError):
        write_atomically(target, "new")
    assert target.read_text() == "old" and _temporaries(tmp_path) == []

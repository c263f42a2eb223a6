"""The hostile-input corpus (tests/hostile/corpus.py): every case ends with its exit status and
message, located where a spec is at fault, with no traceback, in bounded CPU time and memory,
and with every file the user did not name as an output left as it was."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import resource
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import ROOT
from hostile.corpus import CASES, Case, Special
from hostile.worker import CPU_SECONDS, CPU_SECONDS_TORCH

MEMORY = 2 << 30  # address space of an isolated `check`
MEMORY_TORCH = 6 << 30  # torch maps much address space it never touches
WALL_SECONDS = 60  # a blocked read uses no CPU: the wall clock catches it
LOCATED = re.compile(r"^\S+:\d+:\d+: (error|warning): ", re.MULTILINE)


def _make(folder: Path, name: str, content: Any) -> None:
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content.kind == "fifo":
        os.mkfifo(path)
    elif content.kind == "symlink":
        os.symlink(content.target, path)
    elif content.kind == "folder":
        path.mkdir()
    elif content.kind == "sparse":
        with open(path, "wb") as f:
            f.truncate(content.size)
    elif content.kind == "chardev":
        try:  # a scratch null device; where that is not allowed, a link to the real one
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except OSError:
            os.symlink("/dev/null", path)
    else:  # pragma: no cover
        raise ValueError(content)


def _snapshot(folder: Path) -> dict[str, tuple]:
    """What each entry is: type, mode, inode, and a digest of a regular file's content."""
    state: dict[str, tuple] = {}
    for entry in os.scandir(folder):
        st = entry.stat(follow_symlinks=False)
        digest = ""
        if stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            digest = os.readlink(entry.path)
        state[entry.name] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_ino, st.st_rdev, digest)
    return state


def _args(case: Case, folder: Path) -> list[str]:
    return [a.replace("{d}", str(folder)) for a in case.args]


BATCH_CPU_SECONDS = 300  # the whole in-process batch; each case also has its own CPU timer


def _batch_limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (BATCH_CPU_SECONDS, BATCH_CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_TORCH, MEMORY_TORCH))


def _run_batch(jobs: list[tuple[int, str]]) -> dict[int, tuple[int, str, str]]:
    """Cases in one worker process under memory and CPU limits; a case that kills the worker
    leaves the rest unanswered, and those are run again one per worker, so that only the case
    at fault is reported."""
    if not jobs:
        return {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    result = subprocess.run([sys.executable, "-m", "hostile.worker"], input=json.dumps(jobs), text=True,
                            capture_output=True, env=env, cwd=ROOT, timeout=BATCH_CPU_SECONDS * 2,
                            preexec_fn=_batch_limits)
    answers: dict[int, tuple[int, str, str]] = {}
    for line in result.stdout.splitlines():
        item = json.loads(line)
        answers[item["index"]] = (item["status"], item["out"], item["err"])
    missing = [job for job in jobs if job[0] not in answers]
    if missing and len(jobs) == 1:
        answers[jobs[0][0]] = (result.returncode, "", f"the worker died: {result.stderr[-3000:]}")
    elif missing:
        for job in missing:
            answers.update(_run_batch([job]))
    return answers


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict, tuple[int, str, str]]]:
    """Every case that is not isolated, prepared and run in one worker process."""
    prepared: dict[int, tuple[Path, dict]] = {}
    for index, case in enumerate(CASES):
        if case.isolated or (case.torch and importlib.util.find_spec("torch") is None):
            continue
        folder = tmp_path_factory.mktemp("case") / "case"
        folder.mkdir()
        for name, content in case.files.items():
            _make(folder, name, content)
        prepared[index] = (folder, _snapshot(folder))
    answers = _run_batch([(index, str(folder)) for index, (folder, _) in prepared.items()])
    return {index: (folder, before, answers[index]) for index, (folder, before) in prepared.items()}


def _limits(case: Case) -> Callable[[], None]:
    cpu = CPU_SECONDS_TORCH if case.torch else CPU_SECONDS
    memory = MEMORY_TORCH if case.torch else MEMORY

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if case.stdin == "closed":
            os.close(0)

    return apply


def _run_isolated(case: Case, folder: Path) -> tuple[int, str, str]:
    stdin: Any = subprocess.DEVNULL
    if case.stdin == "zero":
        stdin = open("/dev/zero", "rb")
    elif case.stdin not in (None, "closed"):
        stdin = subprocess.PIPE
    stdout: Any = open("/dev/full", "w") if case.stdout == "full" else subprocess.PIPE
    env = {**os.environ, **case.env, "PYTHONPATH": str(ROOT)}
    env["PATH"] = case.env.get("PATH", os.environ.get("PATH", ""))
    try:
        result = subprocess.run([sys.executable, "-m", "archlang.cli", *_args(case, folder)], cwd=folder,
                                input=case.stdin.encode() if stdin is subprocess.PIPE else None,
                                stdin=None if stdin is subprocess.PIPE else stdin, stdout=stdout,
                                stderr=subprocess.PIPE, env=env, timeout=WALL_SECONDS, preexec_fn=_limits(case))
    finally:
        for stream in (stdin, stdout):
            if hasattr(stream, "close"):
                stream.close()
    out = result.stdout.decode(errors="replace") if isinstance(result.stdout, bytes) else ""
    return result.returncode, out, result.stderr.decode(errors="replace")


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.name for c in CASES])
def test_hostile_case(index: int, tmp_path: Path, batch: dict) -> None:
    case = CASES[index]
    if case.torch:
        pytest.importorskip("torch")
    if case.isolated:
        folder = tmp_path / "case"
        folder.mkdir()
        for name, content in case.files.items():
            _make(folder, name, content)
        before = _snapshot(folder)
        status, out, err = _run_isolated(case, folder)
    else:
        folder, before, (status, out, err) = batch[index]
    shown = f"status {status}\n--- stdout\n{out[-2000:]}\n--- stderr\n{err[-3000:]}"
    assert "Traceback" not in err and "Traceback" not in out, shown
    assert status == case.status, shown
    assert case.fragment in err or case.fragment in out, shown
    if case.where:
        assert case.where in err, shown
    if case.status == 1 and case.args[:1] == ("check",):
        assert LOCATED.search(err), shown
    for text in case.forbid:
        assert text not in err and text not in out, shown
    after = _snapshot(folder)
    changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)} - set(case.outputs)
    assert not changed, f"files changed that the case did not name as outputs: {sorted(changed)}"
    assert not [n for n in after if n.startswith(".archlang-")]
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_the_corpus_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)
    assert any(isinstance(v, Special) for c in CASES for v in c.files.values())


@pytest.mark.parametrize("colour", ["", "1"])
def test_a_file_name_cannot_drive_the_terminal(tmp_path: Path, colour: str) -> None:
    """A spec whose name holds escape sequences (a hostile checkout, a crafted download) is named
    escaped wherever archlang prints its name: the table's title (plain, coloured, fitted), `sizes`,
    `fmt`; and `render` prints nothing of it raw."""
    name = "net\x1b]0;owned\x07\x1b[2J.arch"
    spec = tmp_path / name
    spec.write_text("input 8x8x3\nconv 3x3 x4  ->  flatten -> fc 2\n", encoding="utf-8")  # fmt would change it
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["FORCE_COLOR"] = colour
    commands = [["check", name], ["check", name, "--width", "40"], ["sizes", name, "--upto", "16"],
                ["fmt", "--check", name], ["render", name, "-o", "out.dot"]]
    for args in commands:
        result = subprocess.run([sys.executable, "-m", "archlang.cli", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        shown = result.stdout + result.stderr
        assert "\x07" not in shown and "\x1b]" not in shown and "\x1b[2J" not in shown, args
        assert "\\x1b]0;owned\\x07" in shown or args[0] == "render", (args, shown[:300])

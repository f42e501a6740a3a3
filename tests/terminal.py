"""Run a command with a real pseudo-terminal as its stdin and stderr, as a user at a shell
would, and type an answer when a prompt shows. stdout stays a pipe, kept apart."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


@dataclass
class TerminalRun:
    returncode: int
    terminal: str  # what the terminal showed (stderr and echoed input), escapes removed
    stdout: str
    prompted: bool


def run_on_terminal(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str],
    prompt: str,
    answer: str,
    timeout: float = 120,
) -> TerminalRun:
    """Start `argv` on a new 120x40 terminal; when `prompt` appears, type `answer` + Enter."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stderr=slave, stdout=subprocess.PIPE, env=env, cwd=cwd
    )
    os.close(slave)
    seen, prompted = b"", False
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{argv[-3:]} still running after {timeout}s: {seen[-300:]!r}")
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
                if not prompted and prompt in ANSI.sub("", seen.decode(errors="replace")):
                    os.write(master, answer.encode() + b"\n")
                    prompted = True
            elif proc.poll() is not None:
                break
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        os.close(master)
    return TerminalRun(code, ANSI.sub("", seen.decode(errors="replace")), stdout, prompted)


def run_with_tty(argv: list[str], env: dict[str, str], columns: int = 120) -> tuple[int, str]:
    """Run `argv` with stdout and stderr on one terminal `columns` wide (stdin: nothing);
    its exit code and what the terminal showed, escapes removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise TimeoutError(f"{argv} printed nothing for 120s: {seen[-300:]!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                chunk = b""
            if not chunk:
                break
            seen += chunk
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, ANSI.sub("", seen.decode(errors="replace"))

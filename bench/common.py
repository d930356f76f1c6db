"""Measuring helpers shared by the benchmarks: statistics, child processes, machine facts.

Child processes are waited for with :func:`os.wait4`, which gives the resource usage
(CPU time, peak RSS) of that one process, not of every child the bench ever had.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- statistics --------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linearly interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def repeat(fn: Callable[[], Any], times: int) -> list[float]:
    """Wall seconds of ``times`` calls of ``fn``."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


# --- child processes ------------------------------------------------------------------


@dataclass
class ChildRun:
    """One finished child process: what it printed and what it cost."""

    args: list[str]
    returncode: int
    wall: float  # seconds
    user: float  # CPU seconds
    system: float
    max_rss_kb: int  # wait4's ru_maxrss: see peak_rss_kb
    stdout: str
    stderr: str
    peak_rss_kb: int | None = None  # the child's own VmHWM, when it reported it

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def max_rss_mb(self) -> float:
        """Peak RSS: the child's own report if it made one (see :mod:`bench.peak_rss`)."""
        return (self.peak_rss_kb if self.peak_rss_kb is not None else self.max_rss_kb) / 1024

    def check(self) -> ChildRun:
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.args)} exited {self.returncode}:\n{self.stderr[-2000:]}"
            )
        return self


def run_child(
    args: Sequence[str], *, cwd: Path = REPO, env: dict[str, str] | None = None,
    timeout: float = 3600,
) -> ChildRun:
    """Run ``args`` to completion; its own rusage comes from wait4, not RUSAGE_CHILDREN.

    A child that writes its peak RSS to ``$BENCH_PEAK_FILE`` (``bench.peak_rss``) has it
    read back into ``peak_rss_kb``.
    """
    env = dict(env if env is not None else os.environ)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        env["BENCH_PEAK_FILE"] = str(peak_file)
        started = time.perf_counter()
        process = subprocess.Popen(list(args), cwd=cwd, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            args=list(args),
            returncode=process.returncode,
            wall=wall,
            user=usage.ru_utime,
            system=usage.ru_stime,
            max_rss_kb=usage.ru_maxrss,  # kilobytes on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            peak_rss_kb=int(peak_file.read_text()) if peak_file.exists() else None,
        )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def python_env() -> dict[str, str]:
    """The environment for children: the repo importable, no stray listarchive settings,
    and compiled bytecode kept and reused, in ``bench/out/pycache``.

    An installed package has its ``.pyc`` files written at install time; a child that
    compiled listarchive's sources on every start (as it does where
    PYTHONDONTWRITEBYTECODE is set) would add ~30 ms to every process figure.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTARCHIVE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def measured_listarchive_command() -> list[str]:
    """``listarchive`` run so that it reports its own peak RSS (see :mod:`bench.peak_rss`)."""
    return [sys.executable, "-m", "bench.peak_rss"]


def listarchive_command() -> list[str]:
    """The installed ``listarchive`` script beside this interpreter (as a user runs it)."""
    script = Path(sys.executable).parent / "listarchive"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from archive.cli import cli; cli()"]


class SimulatorProcess:
    """``python -m tests.simulator`` in its own process, so its CPU is not the client's.

    On a 2-core machine the simulator and the client each get a core.
    """

    def __init__(self, generate: Sequence[tuple[str, int, int]], *, latency: float = 0.0,
                 seed: int = 0) -> None:
        self.args = [sys.executable, "-m", "tests.simulator", "--port", "0", "--seed", str(seed)]
        for name, topics, per_topic in generate:
            self.args += ["--generate", f"{name}:{topics}:{per_topic}"]
        if latency:
            self.args += ["--latency", str(latency)]
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""
        self._lines: list[str] = []

    def __enter__(self) -> SimulatorProcess:
        self.process = subprocess.Popen(
            self.args, cwd=REPO, env=python_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + 30
        for line in self.process.stderr:
            self._lines.append(line)
            found = re.search(r"simulator on (http://\S+)", line)
            if found:
                self.base_url = found.group(1)
                break
            if time.monotonic() > deadline:
                break
        if not self.base_url:
            self.__exit__(None, None, None)
            raise RuntimeError("the simulator did not start:\n" + "".join(self._lines))
        # Keep draining stderr so the simulator never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return process_cpu_seconds(self.process.pid)

    def __exit__(self, *exc_info: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# --- files and machine -------------------------------------------------------------------


def archive_bytes(path: Path) -> int:
    """The archive's size on disk: the database file and its WAL, if one is left."""
    return sum(
        p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()
    )


def remove_archive(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def code_version() -> str:
    """The commit measured, and whether the work tree had uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.strip()
        # The tables in bench/README.md are this script's own output, not code: a full
        # run followed by a quick one must not call the quick one's code changed.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)bench/README.md"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes" if dirty.strip() else "")


def machine_facts() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = re.search(r"MemTotal:\s+(\d+)", meminfo)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    try:
        import lxml.etree

        lxml_version = ".".join(map(str, lxml.etree.LXML_VERSION))
    except ImportError:  # pragma: no cover
        lxml_version = None
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gb": round(int(mem_kb.group(1)) / 1024 / 1024, 1) if mem_kb else None,
        "cpu": model.group(1).strip() if model else platform.processor(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "lxml": lxml_version,
    }

"""Run `feedloop worker` as a child process and watch it: its log, its RSS and CPU time, its event count.

`WorkerProcess` starts the worker with the given arguments, copies its log (stdout and stderr merged) to a
file, and notices three things in it while it runs: the Prometheus endpoint ("metrics on http://…"), the
first "partitions assigned" of the worker, and the progress lines. A sampler thread reads, every
`sample_seconds`, the worker's VmRSS/VmHWM and CPU time from /proc, the broker's CPU time, and the
worker's `feedloop_events_total` from its metrics endpoint, so that each RSS sample is tied to how many
events had been processed at that moment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
METRICS_LINE = re.compile(r"metrics on (http://\S+/metrics)")
EVENTS_METRIC = re.compile(rb"^feedloop_events_total(?:\{[^}]*\})?\s+([0-9.eE+]+)", re.M)


def proc_status_kib(pid: int, key: str) -> Optional[int]:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), in KiB; None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _stat_cpu(path: str) -> Optional[Tuple[str, float]]:
    """The name and user + system CPU seconds in a /proc `stat` file (a process's or a thread's); None when gone."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            stat = f.read()
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
    except (OSError, ValueError):
        return None
    return name, (int(rest[11]) + int(rest[12])) / CLOCK_TICKS


def proc_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU seconds of a process (all its threads); None when it is gone."""
    stat = _stat_cpu(f"/proc/{pid}/stat")
    return stat[1] if stat else None


def thread_cpu_seconds(pid: int) -> Dict[str, Tuple[str, float]]:
    """Thread id -> (thread name, user + system CPU seconds) of every thread of a process; empty when it is gone."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    out = {}
    for tid in tids:
        stat = _stat_cpu(f"/proc/{pid}/task/{tid}/stat")
        if stat:
            out[tid] = stat
    return out


@dataclass
class Sample:
    """One observation of the worker, `wall` in seconds since the epoch (comparable with its summary)."""

    wall: float
    rss_kib: int
    hwm_kib: int
    cpu_seconds: float
    broker_cpu_seconds: Optional[float]
    events: Optional[float]


@dataclass
class WorkerProcess:
    """A running `feedloop worker` with its log file and samples (see the module doc)."""

    cmd: List[str]
    log_path: str
    broker_pid: Optional[int] = None
    sample_seconds: float = 0.5
    samples: List[Sample] = field(default_factory=list)
    metrics_url: Optional[str] = None
    assigned_at: Optional[float] = None
    progress: List[Dict[str, str]] = field(default_factory=list)

    def start(self) -> "WorkerProcess":
        self._assigned = threading.Event()
        self._log = open(self.log_path, "w", encoding="utf-8")
        self._log.write("$ " + " ".join(self.cmd) + "\n")
        self._log.flush()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.started_at = time.time()
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_assigned(self, timeout: float) -> bool:
        """Blocks until the worker logged its partition assignment (or exited, or the timeout passed)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self._assigned.wait(0.2):
                return True
            if self.proc.poll() is not None:
                return False
        return False

    def wait(self, timeout: float) -> int:
        """Waits for the worker to exit (terminating it after `timeout`); returns its exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                rc = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            self._log_line(f"[bench] worker did not exit within {timeout:.0f} s: terminated")
        self._sampler.join(5)
        self._reader.join(5)
        self._log.close()
        return rc

    # MARK: threads

    def _log_line(self, text: str) -> None:
        try:
            self._log.write(text + "\n")
            self._log.flush()
        except ValueError:
            pass

    def _read_log(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log_line(line)
            if self.metrics_url is None:
                m = METRICS_LINE.search(line)
                if m:
                    self.metrics_url = m.group(1)
            if "partitions assigned" in line and "[Worker]" in line and not self._assigned.is_set():
                self.assigned_at = time.time()
                self._assigned.set()
            if "[Worker] progress" in line:
                fields = dict(re.findall(r"(\w+)=(\S+)", line))
                fields["_wall"] = f"{time.time():.3f}"
                self.progress.append(fields)

    def _scrape_events(self) -> Optional[float]:
        if not self.metrics_url:
            return None
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=0.4) as r:
                m = EVENTS_METRIC.search(r.read())
        except OSError:
            return None
        return float(m.group(1)) if m else None

    def _sample(self) -> None:
        pid = self.proc.pid
        next_at = time.monotonic()
        while self.proc.poll() is None:
            rss = proc_status_kib(pid, "VmRSS")
            hwm = proc_status_kib(pid, "VmHWM")
            cpu = proc_cpu_seconds(pid)
            broker = proc_cpu_seconds(self.broker_pid) if self.broker_pid else None
            wall = time.time()
            events = self._scrape_events()
            if rss is not None and hwm is not None and cpu is not None:
                self.samples.append(Sample(wall, rss, hwm, cpu, broker, events))
            next_at += self.sample_seconds
            time.sleep(max(0.0, next_at - time.monotonic()))


def read_summary(path: str) -> dict:
    """The worker's --summary-json exit report."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def memory_profile(samples: List[Sample], total_events: float, events_before: float = 0.0) -> dict:
    """RSS (KiB) when 10 % and 50 % of the run's events had been processed, at the end and at the peak.

    Samples without an event count (metrics endpoint unreachable) are skipped for the 10 %/50 % points;
    "curve" is the RSS at each 10 % of the events; "end" is the last sample taken while the worker was alive
    (after its last event, before exit);
    "peak" is the highest sampled RSS, and "hwm" the kernel's own high-water mark (VmHWM) at that sample.
    """
    out: Dict[str, object] = {"at10": None, "at50": None, "end": None, "peak": None, "hwm": None,
                              "samples": len(samples), "curve": []}
    if not samples:
        return out
    for key, fraction in (("at10", 0.10), ("at50", 0.50)):
        for s in samples:
            if s.events is not None and s.events - events_before >= fraction * total_events:
                out[key] = s.rss_kib
                break
    curve = []
    for decile in range(1, 11):
        for s in samples:
            if s.events is not None and s.events - events_before >= decile / 10 * total_events:
                curve.append((decile * 10, s.rss_kib))
                break
    out["curve"] = curve
    out["end"] = samples[-1].rss_kib
    out["peak"] = max(s.rss_kib for s in samples)
    out["hwm"] = samples[-1].hwm_kib
    return out


def cpu_share(samples: List[Sample], start_wall: float, end_wall: float) -> dict:
    """Worker and broker CPU use (fraction of one core) between two wall times, from the nearest samples."""
    inside = [s for s in samples if start_wall <= s.wall <= end_wall]
    if len(inside) < 2:
        return {"worker": None, "broker": None, "seconds": 0.0}
    a, b = inside[0], inside[-1]
    dt = b.wall - a.wall
    if dt <= 0:
        return {"worker": None, "broker": None, "seconds": 0.0}
    broker = None
    if a.broker_cpu_seconds is not None and b.broker_cpu_seconds is not None:
        broker = (b.broker_cpu_seconds - a.broker_cpu_seconds) / dt
    return {"worker": (b.cpu_seconds - a.cpu_seconds) / dt, "broker": broker, "seconds": dt}

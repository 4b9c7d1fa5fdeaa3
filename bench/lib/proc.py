"""Run a child process and measure its wall time and its own peak RSS.

Linux carries the peak RSS of the address space a process had *before* exec into its ru_maxrss, and
Python spawns children with vfork/posix_spawn, so a child started straight from the (large) driver
would report the driver's memory. `measure.py` is therefore exec'd first: a small interpreter that
forks the real command and reads that grandchild's own rusage with wait4 (as /usr/bin/time does).
Its own footprint (about 10 MiB) is the floor of what can be measured this way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional

MEASURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measure.py")


@dataclass
class Measured:
    """Exit code, wall seconds (spawn to exit) and peak resident set size of one child, in bytes."""

    returncode: int
    wall_seconds: float
    peak_rss_bytes: int


def run_measured(cmd: List[str], stdout_path: str, stderr_path: str, cwd: Optional[str] = None) -> Measured:
    """Run cmd with stdin closed and its output sent to files; return its own wall time and peak RSS."""
    result = stderr_path + ".measure.json"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        rc = subprocess.call([sys.executable, "-S", MEASURE, result, *cmd],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd)
    try:
        with open(result, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return Measured(rc if rc != 0 else 1, float("nan"), 0)
    return Measured(m["returncode"], m["wall_seconds"], m["peak_rss_bytes"])

"""`python -S measure.py RESULT.json CMD ARG...`: run CMD (stdio inherited), write its exit code, wall
seconds and peak RSS (its own wait4 rusage, in bytes) to RESULT.json, exit with CMD's exit code.
Kept import-light so that the forked child starts from a small address space (see proc.py)."""

import json
import os
import sys
import time


def main() -> None:
    result, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as f:
        json.dump({"returncode": rc, "wall_seconds": wall, "peak_rss_bytes": usage.ru_maxrss * 1024}, f)
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()

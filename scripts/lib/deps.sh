# shellcheck shell=bash
# System dependencies (Debian/Ubuntu). Source it after lib/common.sh.
#
#   ensure_apt_packages PKG...   installs the packages that are missing (apt-get update first, non-interactive)
#   ensure_build_deps            librdkafka, zlib and libzstd headers + pkg-config, needed to build the CRdKafka,
#                                CZlib and CZstd modules
#   ensure_docker_compose        prints the path of Debian's docker-compose (1.29), which validates a compose
#                                file offline (`config`, no Docker engine); Tests/DeploymentTests run it

# Succeeds when a Debian package is installed.
apt_package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ensure_apt_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        apt_package_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    log "installing ${missing[*]} via apt-get"
    # Serialize concurrent callers: dpkg has its own lock but fails instead of waiting.
    mkdir -p "$RUNTIME_DIR"
    (
        flock 9
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    ) 9>"$RUNTIME_DIR/apt.lock"
}

ensure_build_deps() {
    ensure_apt_packages librdkafka-dev zlib1g-dev libzstd-dev pkg-config
}

ensure_docker_compose() {
    ensure_apt_packages docker-compose >&2
    [ -x /usr/bin/docker-compose ] || die "docker-compose is installed but /usr/bin/docker-compose is missing"
    printf '%s\n' /usr/bin/docker-compose
}

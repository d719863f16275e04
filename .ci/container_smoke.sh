#!/usr/bin/env bash
# Container smoke test: build the image from the repository's Dockerfile, run it, and check
# what operators rely on: /healthCheck, a real /forecast, a non-root user, the image's own
# HEALTHCHECK, exit 0 on SIGTERM, and a prompt stop even during start-up. Uses docker where a
# Docker engine answers, else podman (installed with apt when missing). Prints
# "N passed, N failed"; exits 1 on any failure.
# Removes its container and temporary files; keeps images, so the next build hits the cache.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=localhost/streamflow:smoke
DEBIAN_BASE=localhost/debian:bookworm
NAME="streamflow-smoke-$$"
WORK="$(mktemp -d)"
passed=0
failed=0
started=$SECONDS

check() {
    local label=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "PASS $label"
    else
        failed=$((failed + 1))
        echo "FAIL $label"
    fi
}

finish() {
    if [ -n "${engine:-}" ]; then
        for container in "$NAME" "$NAME-early"; do
            "$engine" rm -f "$container" >/dev/null 2>&1 || true
        done
    fi
    rm -rf "$WORK"
    echo "container smoke: $((SECONDS - started)) s"
    echo "$passed passed, $failed failed"
}
trap finish EXIT

# The host's pip settings: this machine reaches PyPI through a proxy with its own CA and has
# the CPU torch wheel on disk instead of PyTorch's index.
pip_setting() {
    local python=python3
    [ -x .venv/bin/python ] && python=.venv/bin/python
    "$python" -m pip config get "global.$1" 2>/dev/null || true
}

# Podman defaults that fail on this kind of machine, overridden only where they would.
write_podman_conf() {
    local conf="$WORK/containers.conf"
    echo "[containers]" >"$conf"
    # Podman's default nofile=1048576 fails with EPERM where root's hard limit is lower.
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 1048576 ]; then
        echo "default_ulimits = [\"nofile=$(ulimit -Hn):$(ulimit -Hn)\", \"nproc=32768:32768\"]" >>"$conf"
    fi
    echo "[engine]" >>"$conf"
    # crun refuses a mixed cgroup v1/v2 layout ("cgroups in hybrid mode not supported").
    if [ -d /sys/fs/cgroup/unified ]; then
        echo 'runtime = "runc"' >>"$conf"
    fi
    # Without systemd there is no systemd cgroup manager and no journald.
    if [ ! -d /run/systemd/system ]; then
        printf 'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >>"$conf"
    fi
    export CONTAINERS_CONF="$conf"
}

# Without a registry, a minimal Debian bookworm (Python 3.11, like python:3.11-slim) made by
# debootstrap; the Dockerfile installs Python into it.
make_debian_base() {
    if podman image exists "$DEBIAN_BASE"; then
        return
    fi
    if ! command -v debootstrap >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local root="$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$root" >/dev/null
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -c . | podman import -q - "$DEBIAN_BASE" >/dev/null
    rm -rf "$root"
}

build_args=()
if docker info >/dev/null 2>&1; then
    engine=docker
else
    engine=podman
    if ! command -v podman >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends podman runc netavark aardvark-dns iptables catatonit >/dev/null
    fi
    write_podman_conf
    # --format docker keeps HEALTHCHECK (the OCI format drops it); the build's RUN steps use
    # the host's network, as the proxy is only reachable from it.
    build_args+=(--format docker --network host)
    if ! podman pull -q python:3.11-slim >/dev/null 2>&1; then
        make_debian_base
        build_args+=(--build-arg "BASE_IMAGE=$DEBIAN_BASE")
    fi
    # Bind mounts at build time keep the CA bundle and the wheel directory out of the image.
    cert="${PIP_CERT:-$(pip_setting cert)}"
    if [ -n "$cert" ]; then
        build_args+=(-v "$cert:/etc/host-ca/ca.crt:ro" --build-arg PIP_CERT=/etc/host-ca/ca.crt)
    fi
    wheels="${PIP_FIND_LINKS:-$(pip_setting find-links)}"
    if [ -n "$wheels" ] && compgen -G "$wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
        build_args+=(-v "$wheels:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels --build-arg TORCH_INDEX_URL=)
    fi
fi
echo "engine: $engine"

build_started=$SECONDS
if ! "$engine" build "${build_args[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
    tail -n 40 "$WORK/build.log"
    check "image builds" false
    exit 1
fi
check "image builds ($((SECONDS - build_started)) s)" true
"$engine" image inspect --format 'image size: {{.Size}} bytes' "$IMAGE"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# Host networking on 127.0.0.1: nothing is published beyond this machine. A read-only root
# filesystem, as the Fargate task definition has. Podman logs harmless errors about systemd
# health-check timers; they go to run.log, shown only on failure.
start_container() {
    "$engine" run -d --name "$1" --network host --read-only \
        -e STREAMFLOW__SERVER__HOST=127.0.0.1 -e STREAMFLOW__SERVER__PORT="$port" "$IMAGE" >/dev/null 2>>"$WORK/run.log"
}
if ! start_container "$NAME"; then
    cat "$WORK/run.log"
    check "container starts" false
    exit 1
fi

healthy() {
    local deadline=$((SECONDS + 90))
    while [ $SECONDS -lt $deadline ]; do
        if python3 -c "import urllib.request as r, sys; r.urlopen(sys.argv[1], timeout=2)" "$base/healthCheck" 2>/dev/null; then
            return 0
        fi
        [ "$("$engine" inspect --format '{{.State.Running}}' "$NAME")" = true ] || return 1
        sleep 0.5
    done
    return 1
}

forecast_is_sane() {
    python3 - "$base/forecast?site_id=09900001&forecast_days=5" <<'EOF'
import json, math, sys, urllib.request

try:
    body = json.load(urllib.request.urlopen(sys.argv[1], timeout=30))
except OSError as exc:
    sys.exit(f"forecast request failed: {exc}")
flows = [day["flow"] for day in body["forecast"]]
print(f"forecast: {flows}")
sys.exit(not (len(flows) == 5 and all(math.isfinite(flow) and flow >= 0 for flow in flows)))
EOF
}

runs_as_non_root() {
    local uid
    uid="$("$engine" exec "$NAME" python -c 'import os; print(os.getuid())')" || return 1
    echo "uid in container: $uid"
    [[ "$uid" =~ ^[0-9]+$ ]] && [ "$uid" != 0 ]
}

# Runs the HEALTHCHECK command stored in the image, so a build that dropped it fails here.
image_healthcheck_passes() {
    local command
    command="$("$engine" image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE" |
        python3 -c 'import json, sys; test = json.load(sys.stdin); assert test[0] == "CMD-SHELL"; print(test[1])')" || return 1
    "$engine" exec "$NAME" sh -c "$command"
}

# The build context is an allowlist (.dockerignore): tests, benchmarks, git history and the
# operator's deploy script (which needs boto3) stay out of the image.
only_service_files_in_image() {
    local extra
    extra="$("$engine" exec "$NAME" sh -c 'ls -d /app/utils/deploy.py /app/test /app/bench /app/.git 2>/dev/null; true')" || return 1
    echo "in /app but not the service's: ${extra:-nothing}"
    [ -z "$extra" ]
}

# stop sends SIGTERM, then SIGKILL after 20 s; exit 0 means the service drained and returned.
sigterm_exits_0() {
    "$engine" stop -t 20 "$NAME" >/dev/null 2>>"$WORK/run.log"
    local code
    code="$("$engine" inspect --format '{{.State.ExitCode}}' "$NAME")"
    echo "exit code after SIGTERM: $code"
    [ "$code" = 0 ] && "$engine" logs "$NAME" 2>&1 | grep -q "stopped"
}

# Stopped at once, before the service has installed its handler: the init must pass SIGTERM on
# (exit 143), or the stop waits 20 s for SIGKILL (exit 137).
sigterm_during_startup_is_not_ignored() {
    local began=$SECONDS code
    start_container "$NAME-early" || return 1
    "$engine" stop -t 20 "$NAME-early" >/dev/null 2>>"$WORK/run.log"
    code="$("$engine" inspect --format '{{.State.ExitCode}}' "$NAME-early")"
    echo "stopped during start-up after $((SECONDS - began)) s, exit code $code"
    [ "$code" != 137 ] && [ $((SECONDS - began)) -lt 10 ]
}

check "/healthCheck answers 200" healthy
check "/forecast gives 5 finite non-negative flows" forecast_is_sane
check "runs as non-root" runs_as_non_root
check "image HEALTHCHECK passes" image_healthcheck_passes
check "image holds only the service's files" only_service_files_in_image
check "SIGTERM exits 0" sigterm_exits_0
check "SIGTERM during start-up is not ignored" sigterm_during_startup_is_not_ignored
if [ "$failed" -gt 0 ]; then
    "$engine" logs "$NAME" 2>&1 | tail -n 30
    exit 1
fi

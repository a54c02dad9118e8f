#!/usr/bin/env bash
# Docker for awm-tui on this machine, idempotent (run it again at any time; it does only what is missing):
#   1. the Docker engine: when none is reachable, installs Debian's docker.io (as root; otherwise says what to
#      install) and starts dockerd in the background, its data, state and log under the user's cache dir
#      (~/.cache/awm-tui/docker), with no iptables rules and no bridge (containers use host networking or none).
#      It keeps running until you stop it: kill "$(cat ~/.cache/awm-tui/docker/dockerd.pid)".
#   2. debootstrap (Debian's package, as root), which makes the images' Debian base;
#   3. the demo's images: python -m awm.images demo (the harness's base, environment and 24 instance images, and the
#      agent server's volume), each rebuilt only when what it is built from changed.
# Exit status: 0 ready; 1 something failed (the message says what); 3 no engine can be had here (not root, no apt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${XDG_CACHE_HOME:-$HOME/.cache}/awm-tui/docker"
say() { echo "docker-up: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() {  # quiet, with one `apt-get update` retry (a machine's package lists may be missing or stale)
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}
engine_up() { docker info >/dev/null 2>&1; }

if ! command -v docker >/dev/null 2>&1 || ! engine_up; then
  if ! command -v dockerd >/dev/null 2>&1; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
      say "installing docker.io (Debian's Docker engine) ..."
      apt_install docker.io || { say "apt-get install docker.io failed"; exit 1; }
    else
      say "no Docker engine is reachable and dockerd is not installed: install Docker (Debian: apt-get install" \
          "docker.io, as root) and start it, or set DOCKER_HOST to a running engine"
      exit 3
    fi
  fi
  if ! engine_up; then
    if ! is_root; then
      say "dockerd is installed but not running, and starting it needs root: sudo $0"
      exit 3
    fi
    mkdir -p "$state"
    pid="$(cat "$state/dockerd.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
      rm -f "$state/dockerd.pid"  # left by a dockerd that is gone (its pid may be another process's now)
      pid=""
    fi
    if [ -n "$pid" ]; then
      say "dockerd (pid $(cat "$state/dockerd.pid")) is starting; waiting for it"
    else
      for driver in overlay2 vfs; do
        say "starting dockerd (storage driver $driver; data in $state) ..."
        setsid nohup dockerd --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
          --iptables=false --ip6tables=false --bridge=none --storage-driver "$driver" \
          -H unix:///var/run/docker.sock >"$state/dockerd.log" 2>&1 </dev/null &
        for _ in $(seq 1 60); do
          engine_up && break
          kill -0 $! 2>/dev/null || break
          sleep 1
        done
        engine_up && break
        kill "$!" 2>/dev/null || true
        say "dockerd did not come up with $driver: $(tail -n 3 "$state/dockerd.log" | tr '\n' ' ')"
      done
    fi
    for _ in $(seq 1 60); do engine_up && break; sleep 1; done
    engine_up || { say "dockerd did not answer; its log: $state/dockerd.log"; exit 1; }
    say "dockerd is running (pid $(cat "$state/dockerd.pid" 2>/dev/null || echo ?)); stop it with:" \
        "kill \$(cat $state/dockerd.pid)"
  fi
fi

if ! command -v debootstrap >/dev/null 2>&1 && is_root && command -v apt-get >/dev/null 2>&1; then
  say "installing debootstrap (makes the images' Debian base) ..."
  apt_install debootstrap || say "apt-get install debootstrap failed; the Debian base image cannot be made"
fi

"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/python" -m awm.images demo

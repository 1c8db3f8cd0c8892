#!/bin/bash
# Installs Prometheus and promtool from Debian (tests/deploy needs /usr/bin/prometheus and
# /usr/bin/promtool). Idempotent; does nothing when both are there. Needs root (or sudo).
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install.sh: run as root to apt-get install prometheus" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The package's systemd unit is not started in containers (policy-rc.d); the tests start their own.
$SUDO apt-get install -y -qq --no-install-recommends prometheus
# On a machine running systemd the package starts its own Prometheus on :9090, which would take
# the port compose publishes; the tests and compose do not need it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

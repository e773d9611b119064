#!/usr/bin/env bash
# Installs Debian's chromium for the real-browser tests (playwright-core drives it through an
# explicit executable path: browser downloads are not possible in CI). Idempotent: does nothing
# when a chromium is already on PATH or at $CHROMIUM_PATH. Needs root (CI runs as root) or sudo.
set -euo pipefail
if [[ -n "${CHROMIUM_PATH:-}" && -x "${CHROMIUM_PATH}" ]] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# fonts-liberation: the report and console need some font to render text in screenshots.
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
command -v chromium

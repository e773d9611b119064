#!/usr/bin/env bash
# The one test command (npm test): type-check, lint, start the real Kafka and InfluxDB services the
# end-to-end tests need (idempotent), run every test file, and stop the services again if this
# run started them.
set -euo pipefail
cd "$(dirname "$0")/.."

npx tsc -p tsconfig.json --noEmit
npm run --silent lint

# The console the API serves at /ui, built from ui/console.
node scripts/build-ui.mjs

# The real-browser tests drive Debian's chromium; install it on a fresh machine.
command -v chromium >/dev/null 2>&1 || bash scripts/install-chromium.sh

# Services already answering on 127.0.0.1 (e.g. after `npm run services:start`) are used as they
# are; otherwise this run starts them and stops them again at the end.
started=0
if ! { node scripts/services/health.mjs kafka --timeout 1 && node scripts/services/health.mjs influx --timeout 1; } >/dev/null 2>&1; then
  bash scripts/services/start.sh
  started=1
fi
cleanup() { if [[ $started == 1 ]]; then bash scripts/services/stop.sh || true; fi; }
trap cleanup EXIT

export GANF_QUIET=1
node --import tsx --test --test-concurrency=1 test/*.test.ts

#!/usr/bin/env bash
# The one test command (npm test): type-check, start the real Kafka and InfluxDB services the
# end-to-end tests need (idempotent), run every test file, and stop the services again if this
# run started them.
set -euo pipefail
cd "$(dirname "$0")/.."

npx tsc -p tsconfig.json --noEmit

started=0
if ! { node scripts/services/health.mjs kafka --timeout 1 && node scripts/services/health.mjs influx --timeout 1; } >/dev/null 2>&1; then
  started=1
fi
bash scripts/services/start.sh
cleanup() { if [[ $started == 1 ]]; then bash scripts/services/stop.sh || true; fi; }
trap cleanup EXIT

export GANF_QUIET=1
node --import tsx --test --test-concurrency=1 test/*.test.ts

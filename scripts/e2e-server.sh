#!/usr/bin/env bash
# Runs the built app on a fresh demo database for the Playwright suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-3210}
DATA=$(mktemp -d /tmp/suz-e2e.XXXXXX)
BIN=${SUZ_BIN:-target/debug/suz}
export SUZ_DEMO=1 SUZ_DATA_DIR="$DATA" SUZ_LISTEN="127.0.0.1:$PORT" LEPTOS_SITE_ROOT=target/site
export RUST_LOG=${RUST_LOG:-warn}
# Secrets of payment accounts typed in administration are sealed with this key.
export SUZ_SECRETS_KEY=${SUZ_SECRETS_KEY:-e2e-secrets-key}
exec "$BIN"

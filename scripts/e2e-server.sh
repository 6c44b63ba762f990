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
# Residents' phones come from addresses of their own (`residentPage` sends one as a
# proxy would): the per-address limit of code requests holds per phone, not per suite.
export SUZ_TRUST_FORWARDED_FOR=1
exec "$BIN"

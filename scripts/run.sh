#!/usr/bin/env bash
# Builds the release app and runs it with demo data on http://127.0.0.1:3000
# (SUZ_LISTEN changes the address; data lives in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
scripts/build-site.sh release
export SUZ_DEMO=${SUZ_DEMO:-1}
export LEPTOS_SITE_ROOT=target/site
# A fresh demo database gets last month's money: 60 orders paid, refunded and settled
# through the real services (see «Финансы» → «Взаиморасчеты»).
DATA=${SUZ_DATA_DIR:-data}
if [ "$SUZ_DEMO" = 1 ] && [ -z "${SUZ_DATABASE_URL:-}" ] && [ ! -f "$DATA/suz.db" ]; then
  target/release/suz simulate-month 60 1 > /dev/null \
    || echo "the demo month could not be played; the app starts without it" >&2
fi
exec target/release/suz

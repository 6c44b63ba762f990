#!/usr/bin/env bash
# Builds the release app and runs it with demo data on http://127.0.0.1:3000
# (SUZ_LISTEN changes the address; data lives in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
scripts/build-site.sh release
export SUZ_DEMO=${SUZ_DEMO:-1}
export LEPTOS_SITE_ROOT=target/site
exec target/release/suz

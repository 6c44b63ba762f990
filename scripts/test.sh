#!/usr/bin/env bash
# Runs every check and test: formatting, clippy (server and browser builds, warnings
# denied), all Rust tests (unit, property, database, HTTP) and the Playwright suite
# against the built app in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "== $1 ($(( $(date +%s) - start )) s)"; }

step "tools"
scripts/tools.sh --test

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (server)"
cargo clippy --features ssr --all-targets -- -D warnings

step "clippy (browser)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

step "cargo test"
cargo test --features ssr

step "build the app (dev profile, shared with the tests)"
scripts/build-site.sh dev

step "playwright"
(cd end2end && npx playwright test)

step "all tests passed"

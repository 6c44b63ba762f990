#!/usr/bin/env bash
# Installs the build tools this project needs, each only when missing or at the wrong
# version. Nothing is downloaded at build time beyond crates.io, npm and Debian packages.
#   scripts/tools.sh          tools to build and run
#   scripts/tools.sh --test   also Chromium and the Playwright packages
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate pinned in Cargo.toml.
WB_VERSION=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WB_VERSION" ]; then
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

if ! command -v brotli >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq brotli >/dev/null
fi

# wasm-opt from npm (Debian's binaryen 108 produces modules that fail at hydration).
if [ ! -x "$ROOT/.tools/node_modules/.bin/wasm-opt" ]; then
  mkdir -p "$ROOT/.tools"
  npm install --prefix "$ROOT/.tools" --no-audit --no-fund binaryen@132.0.0 >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
  if ! command -v chromium >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ]; then
    (cd end2end && npm ci --no-audit --no-fund >/dev/null)
  fi
fi

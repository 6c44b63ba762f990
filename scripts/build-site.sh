#!/usr/bin/env bash
# Builds the server binary and the browser bundle into target/site (what cargo-leptos
# would do, without needing it installed).
#   scripts/build-site.sh dev       debug server + unoptimised wasm (tests)
#   scripts/build-site.sh release   optimised server + size-optimised, precompressed wasm
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-release}
export PATH="$(pwd)/.tools/node_modules/.bin:$PATH"
SITE=target/site
mkdir -p "$SITE/pkg"

if [ "$MODE" = release ]; then
  cargo build --release --bin suz --features ssr
  cargo rustc --lib --crate-type cdylib --target wasm32-unknown-unknown --profile wasm-release --no-default-features --features hydrate
  WASM=target/wasm32-unknown-unknown/wasm-release/suz.wasm
else
  cargo build --bin suz --features ssr
  # Warnings in the browser build fail it (this build is the test suite's check of the
  # hydrate-only code; flags apply to the wasm target only, not to host build scripts).
  RUSTFLAGS="-D warnings" cargo rustc --lib --crate-type cdylib --target wasm32-unknown-unknown --no-default-features --features hydrate
  WASM=target/wasm32-unknown-unknown/debug/suz.wasm
fi

wasm-bindgen --target web --no-typescript --out-dir "$SITE/pkg" --out-name suz "$WASM"
if [ "$MODE" = release ]; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int "$SITE/pkg/suz_bg.wasm" -o "$SITE/pkg/suz_bg.wasm"
fi
cp style/main.css "$SITE/pkg/suz.css"
cp -r public/. "$SITE/"

# Precompressed copies, served when the browser accepts them.
for f in "$SITE/pkg/suz_bg.wasm" "$SITE/pkg/suz.js" "$SITE/pkg/suz.css"; do
  if [ "$MODE" = release ]; then
    gzip -9 -k -f "$f"
    if command -v brotli >/dev/null; then brotli -q 11 -k -f "$f"; fi
  else
    rm -f "$f.gz" "$f.br"
  fi
done
echo "site built ($MODE): $(du -h "$SITE/pkg/suz_bg.wasm" | cut -f1) wasm"

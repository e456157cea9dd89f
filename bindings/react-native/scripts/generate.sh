#!/usr/bin/env bash
# Regenerates every generated file of react-native-upload-monitor from monitor-sdk with
# uniffi-bindgen-react-native 0.31.0-5 (ubrn):
#
#   src/generated/, cpp/generated/     the bindings (TypeScript over JSI, C++)         `generate all`
#   src/native/, cpp/*.cpp|h, android/, ios/, UploadMonitor.podspec   TurboModule glue `generate all`
#   test/napi/generated/               the same API over N-API, for Node tests          `generate napi bindings`
#
# Run from anywhere: bindings/react-native/scripts/generate.sh (or `npm run generate`).
# Needs node + npm and `npm ci` done here. ubrn's first run compiles its CLI (~5 minutes on
# 2 cores; it honours CARGO_TARGET_DIR). Reads the host build of monitor-sdk (the metadata
# is the same on every target). TypeScript options: monitor-sdk/uniffi.toml. CI runs it and
# fails when it changes a committed file.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
ubrn="$here/node_modules/.bin/ubrn"
[ -x "$ubrn" ] || { echo "run 'npm ci' in $here first" >&2; exit 1; }

cd "$root"
cargo build -p monitor-sdk --lib --quiet
target="${CARGO_TARGET_DIR:-$root/target}"
# A private copy: the shared target dir's uplifted library may be replaced by another build.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp "$target/debug/libmonitor_sdk.a" "$scratch/"
so="$target/debug/libmonitor_sdk.so"
[ -f "$so" ] || so="$target/debug/libmonitor_sdk.dylib"
cp "$so" "$scratch/"
so="$scratch/$(basename "$so")"

cd "$here"
"$ubrn" generate all --config ubrn.config.yaml "$scratch/libmonitor_sdk.a"
# `generate all` also writes a web (wasm) entry and crate; this package is native only.
rm -rf rust_modules src/index.web.ts

cd "$root/monitor-sdk"
rm -rf "$here/test/napi/generated"
"$ubrn" generate napi bindings --library "$so" \
  --ts-dir "$here/test/napi/generated" --lib-colocated --no-format
echo "generated: src/generated src/native cpp android ios test/napi/generated"

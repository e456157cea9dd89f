#!/usr/bin/env bash
# Generates the React Native (TurboModule, JSI) bindings of monitor-sdk with
# uniffi-bindgen-react-native: TypeScript in ts/, C++ in cpp/.
#
#   bindings/react-native/generate.sh            # debug host library
#   PROFILE=release bindings/react-native/generate.sh
#
# Needs node + npm. The first run installs uniffi-bindgen-react-native (package.json pins
# 0.31.0-5, the release built on uniffi 0.31) and compiles its CLI (~5-10 minutes on 2
# shared cores; measured 2026-11-24: generated ts/monitor_sdk.ts, monitor_sdk-ffi.ts,
# cpp/monitor_sdk.cpp, .hpp with flush() as a Promise). ubrn reads cargo
# metadata, so it runs from the crate's directory. Not part of `cargo test`: the generated
# code only runs inside a React Native app (iOS/Android build of the staticlib/cdylib).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
profile="${PROFILE:-debug}"

cd "$root"
if [ "$profile" = release ]; then
  cargo build --release -p monitor-sdk --lib
else
  cargo build -p monitor-sdk --lib
fi
library="$root/target/$profile/libmonitor_sdk.so"
[ -f "$library" ] || library="$root/target/$profile/libmonitor_sdk.dylib"

cd "$here"
if [ ! -x node_modules/.bin/ubrn ]; then
  npm install --no-audit --no-fund
fi

cd "$root/monitor-sdk"
"$here/node_modules/.bin/ubrn" generate jsi bindings \
  --library "$library" \
  --ts-dir "$here/ts" \
  --cpp-dir "$here/cpp"
echo "TypeScript: $here/ts   C++: $here/cpp"

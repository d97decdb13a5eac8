#!/usr/bin/env bash
# Schema fuzzing: serves the release build of otpgate on a free loopback port with a fresh
# data folder, runs schemathesis (installed into target/schemathesis on first use) against
# its /v1/openapi.json with every check, and fails on any finding or a panic in the log.
set -euo pipefail
cd "$(dirname "$0")/../../.."

SCHEMATHESIS_VERSION=4.32.5
venv=target/schemathesis
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
cat > "$dir/otpgate.toml" <<TOML
[app]
environment = "development"

[auth.schema]
namespace = "schema"
secret = "schema-secret-123"

[inbound]
number = "+14155550100"
signing_secret = "whsec_c2NoZW1hLWZ1enppbmctc2lnbmluZy1rZXk="

[limits]
caller_limits = false
TOML

OTPGATE_ADDRESS="127.0.0.1:$port" OTPGATE_ROOT_URL="$base" OTPGATE_DATA_DIR="$dir/data" \
  OTPGATE_SITE_ROOT=target/site RUST_LOG=warn \
  ./target/release/otpgate --config "$dir/otpgate.toml" serve > "$dir/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT

ready=
for _ in $(seq 1 300); do
  if curl -fs "$base/readyz" > /dev/null; then ready=1; break; fi
  if ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "otpgate did not become ready on $base:" >&2
  cat "$dir/server.log" >&2
  exit 1
fi

# One worker: CPython 3.11 can fail compiling patterns in parallel threads.
status=0
OTPGATE_SCHEMA_AUTH="schema:schema-secret-123" "$venv/bin/st" \
  --config-file server/tests/schema/schemathesis.toml \
  run "$base/v1/openapi.json" --url "$base" --workers 1 "$@" || status=$?

if grep -q "panicked" "$dir/server.log"; then
  echo "the server panicked during schema fuzzing:" >&2
  grep -A5 "panicked" "$dir/server.log" >&2
  status=1
fi
exit "$status"

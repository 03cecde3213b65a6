#!/usr/bin/env bash
# B18 of the reliability catalogue: the Autobahn|Testsuite fuzzing client (every case but the
# permessage-deflate ones, 12.* and 13.*) against `examples/autobahn-echo`, our WebSocket layer.
# The outcome of every case is compared with expected-results.json; any difference fails.
#
# Usage: run.sh TARGET_DIR   (the cargo profile directory holding examples/autobahn-echo)
# The suite is Python 2.7 only (autobahntestsuite 25.10.1); without a CPython 2.7 the run is
# skipped with a message. Its pinned dependencies go into a venv next to this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:?usage: run.sh TARGET_DIR}"

py27=""
for c in python2.7 "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python"; do
  # (a pyenv shim exists even when it cannot run: try it)
  if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1; then
    py27="$c"; break
  fi
done
if [ -z "$py27" ]; then
  echo "autobahn: skipped (no CPython 2.7 found)"
  exit 0
fi

venv="$here/.venv"
if [ ! -x "$venv/bin/wstest" ]; then
  "$py27" -m virtualenv --version >/dev/null 2>&1 || "$py27" -m pip install --quiet virtualenv==20.15.1
  "$py27" -m virtualenv --quiet "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

work="$here/.work"
rm -rf "$work"
mkdir -p "$work"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

: >"$work/server.out" # exists before the background job opens it
PORT=0 "$target/examples/autobahn-echo" >"$work/server.out" &
server_pid=$!
port=""
for _ in $(seq 100); do
  port="$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/server.out" || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "autobahn: the echo server did not start"; exit 1; }

cat >"$work/fuzzingclient.json" <<JSON
{
  "outdir": "$work/reports",
  "servers": [{ "agent": "socketio-rs", "url": "ws://127.0.0.1:$port" }],
  "cases": ["*"],
  "exclude-cases": ["12.*", "13.*"],
  "exclude-agent-cases": {}
}
JSON
(cd "$work" && "$venv/bin/wstest" -m fuzzingclient -s "$work/fuzzingclient.json" >"$work/wstest.log" 2>&1) \
  || { tail -20 "$work/wstest.log"; exit 1; }

"$venv/bin/python" "$here/compare.py" "$work/reports/index.json" "$here/expected-results.json" "${AUTOBAHN_UPDATE:-}"

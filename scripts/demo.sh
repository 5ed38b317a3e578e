#!/usr/bin/env bash
# Install firegrid into ./.venv and run `firegrid demo`: the gateway, the REST API and a small
# simulated fleet, with an embedded broker and the embedded SQLite history store.
# Extra arguments go to `firegrid demo` (see `firegrid demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq python3-venv
fi
python3 - <<'PY' || { echo "firegrid needs Python 3.11 or newer" >&2; exit 1; }
import sys; sys.exit(sys.version_info < (3, 11))
PY
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/firegrid demo "$@"

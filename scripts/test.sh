#!/usr/bin/env bash
# Install everything the tests need, then run them all: lint, types, unit and integration tests.
#
#   scripts/test.sh            # the whole suite
#   scripts/test.sh -k influx  # extra arguments go to pytest
#
# Real servers come from the distribution's packages (Debian/Ubuntu): Mosquitto 2, InfluxDB 1.x
# and VictoriaMetrics; Chromium for the web console's browser tests. The integration tests start
# their own instances on free loopback ports; any service the package manager starts on the
# default ports is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
missing=()
have mosquitto || missing+=(mosquitto)
have influxd || missing+=(influxdb)
have victoria-metrics || missing+=(victoria-metrics)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the web console's browser tests
# The browser tests screenshot the console (docs/screenshots): Chinese text needs a CJK font.
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
# The pipeline benchmark's smoke test runs its Node-RED peer (it `npm ci`s Node-RED itself).
have npm || missing+=(nodejs npm)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The hot path is compiled with mypyc at install (setup.py); tests/unit/test_compiled.py checks
# that it was, so the tests and benchmarks run what a deployment runs.
have cc || missing+=(gcc)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)  # a recommend of gcc, not a dependency
python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} from the distribution's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 - <<'PY' || { echo "firegrid needs Python 3.11 or newer" >&2; exit 1; }
import sys; sys.exit(sys.version_info < (3, 11))
PY
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"

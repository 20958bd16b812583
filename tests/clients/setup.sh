#!/usr/bin/env bash
# Installs the unmodified real clients the compatibility tests drive:
# simple-salesforce in .venv/ at the repository root and jsforce in
# tests/clients/node_modules, and Chromium (headless) for the HTML report
# test. Idempotent; needs python3 and npm; installs Chromium with apt-get
# (run as root) only when /usr/bin/chromium is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import simple_salesforce" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
fi
# jsforce in tests/clients/node_modules, pinned by package-lock.json.
if [ ! -f tests/clients/node_modules/jsforce/package.json ]; then
  (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi
# Chromium renders report.html in tests/it/report.rs (headless, no network).
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium
fi

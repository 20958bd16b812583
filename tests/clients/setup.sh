#!/usr/bin/env bash
# Installs the unmodified real clients the compatibility tests drive:
# simple-salesforce in .venv/ at the repository root and jsforce in
# tests/clients/node_modules. Idempotent; needs python3 and npm.
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

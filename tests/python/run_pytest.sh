#!/usr/bin/env bash
# Runs the PyTorch reference's tests (python/tests). Exits 77 (CTest: skipped) when python3, torch or pytest is
# missing, saying so; tools/install-deps.sh installs them from Debian (python3-torch, python3-pytest).
set -u
root=${1:?usage: run_pytest.sh PYTHON_DIR}
source "$(dirname "$0")/../support/find_python.sh"
find_python torch,pytest,numpy "python3-torch python3-pytest"
if ! ls "$root"/tests/test_*.py >/dev/null 2>&1; then
  echo "skipped: no python tests in $root/tests yet"
  exit 77
fi
cd "$root" && exec "$py" -m pytest -q -p no:cacheprovider tests

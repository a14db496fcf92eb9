#!/usr/bin/env bash
# Runs the PyTorch reference's tests (python/tests). Exits 77 (CTest: skipped) when python3, torch or pytest is
# missing, saying so; tools/install-deps.sh installs them from Debian (python3-torch, python3-pytest).
set -u
root=${1:?usage: run_pytest.sh PYTHON_DIR}
# Debian's interpreter carries python3-torch; a python3 earlier on PATH (pyenv, venv) may not.
py=python3
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import torch, pytest, numpy' 2>/dev/null; then py=$candidate; break; fi
done
if ! "$py" -c 'import torch, pytest, numpy' 2>/dev/null; then
  echo "skipped: python3 with torch, pytest and numpy is not available (apt-get install python3-torch python3-pytest)"
  exit 77
fi
if ! ls "$root"/tests/test_*.py >/dev/null 2>&1; then
  echo "skipped: no python tests in $root/tests yet"
  exit 77
fi
cd "$root" && exec "$py" -m pytest -q -p no:cacheprovider tests

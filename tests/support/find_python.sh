# Sourced by the CTest scripts that run Python. `find_python MODULES APT_PACKAGES` sets $py to an interpreter that
# imports every module of the comma-separated MODULES, or prints why and exits 77 (CTest: skipped).
# Debian's interpreter carries python3-torch and python3-numpy; a python3 earlier on PATH (pyenv, venv) may not.
find_python() {
  local modules=$1 packages=$2 candidate
  for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c "import $modules" 2>/dev/null; then py=$candidate; return 0; fi
  done
  echo "skipped: python3 with ${modules//,/, } is not available (apt-get install $packages)"
  exit 77
}

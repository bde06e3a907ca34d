# Shared by demo.sh and test.sh: create .venv and install the pinned dependencies from the
# lock (with their hashes) and the package itself (editable) once, reinstalling only when
# pyproject.toml or the lock changed. The locks come from scripts/lock.sh.
ensure_venv() {
  local extras="$1"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "dsr-bot needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  # The test extra has a lock of its own with the same runtime pins plus the test tools.
  local lock="requirements${extras:+-$extras}.lock"
  local stamp=".venv/.installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet --require-hashes -r "$lock" >&2
    .venv/bin/python -m pip install --quiet --no-deps -e . >&2
    touch "$stamp"
  fi
}

#!/usr/bin/env bash
# Regenerate the pinned, hashed dependency locks from pyproject.toml (run after changing a
# dependency there; tests/test_lockfile.py fails until you do):
#   requirements.lock       what the container image installs (deploy/Dockerfile)
#   requirements-test.lock  the same pins plus the test extra: CI's .venv (scripts/venv.sh)
# `--upgrade` (passed through) moves every pin to the newest allowed release; without it,
# pip-compile keeps the pins it already has. Resolved for CPython 3.11 on Linux x86_64,
# which is what the image and CI run; the hashes cover every file of each pinned release.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${DSR_BOT_LOCK_TOOLS:-.venv-lock}"
if [ ! -x "$tools/bin/pip-compile" ]; then
  "${PYTHON:-python3}" -m venv "$tools"
  "$tools/bin/pip" install --quiet "pip-tools>=7.4"
fi
compile=("$tools/bin/pip-compile" --quiet --generate-hashes --strip-extras --allow-unsafe
         --no-emit-index-url --no-emit-find-links --no-emit-trusted-host "$@")
"${compile[@]}" --output-file requirements.lock pyproject.toml
# Seeded with the runtime pins, so that the test lock resolves to exactly the same versions
# for everything the image ships (tests/test_lockfile.py checks that they agree).
[ -f requirements-test.lock ] || cp requirements.lock requirements-test.lock
"${compile[@]}" --extra test --output-file requirements-test.lock pyproject.toml

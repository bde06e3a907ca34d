#!/usr/bin/env bash
# Quickstart 1: set up a virtualenv and run the whole pipeline on bundled sample mail.
# Needs only Python >= 3.11: SQLite, no mail servers, replies written as .eml files.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv ""
exec .venv/bin/dsr-bot demo "$@"

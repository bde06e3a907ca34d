#!/usr/bin/env bash
# Quickstart 2: install what the tests need (Dovecot, Python packages), then lint and run
# the whole suite against SQLite and PostgreSQL. Non-interactive; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
source scripts/venv.sh
ensure_venv "test"

# PostgreSQL: the suite runs every database test twice, on SQLite and on PostgreSQL.
export DSR_BOT_TEST_POSTGRES_URL="${DSR_BOT_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
bash scripts/ensure-postgres.sh "$DSR_BOT_TEST_POSTGRES_URL"

.venv/bin/ruff check src tests bench classifiers
.venv/bin/ruff format --check src tests bench classifiers
# The architecture's contracts (pyproject.toml [tool.importlinter], docs/architecture.md).
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"

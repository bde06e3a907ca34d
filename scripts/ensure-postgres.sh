#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use answers; start the local cluster if it is installed
# but stopped. Fails loudly otherwise: PostgreSQL tests are never silently skipped.
set -euo pipefail
url="$1"
probe() { .venv/bin/python - "$url" <<'PY'
import sys, psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable: {type(exc).__name__}", file=sys.stderr)
    sys.exit(1)
PY
}
if probe; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do probe 2>/dev/null && exit 0; sleep 1; done
fi
echo "PostgreSQL at $url is not reachable and could not be started" >&2
exit 1

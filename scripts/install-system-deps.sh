#!/usr/bin/env bash
# Install the system packages the tests need on Debian/Ubuntu (a real Dovecot IMAP server:
# tests/fixtures/dovecot.py runs its own instance on a free loopback port).
# Non-interactive and idempotent: packages already installed are left alone, and apt is not
# touched at all when nothing is missing. Runs as root, or through sudo otherwise.
set -euo pipefail

# systemd: `systemd-analyze verify` checks deploy/dsr-bot.service (tests/test_deploy_files.py).
packages=(dovecot-imapd systemd)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: no apt-get here; install ${missing[*]} (Dovecot 2.3 or 2.4) by hand" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)  # -n: fail instead of waiting for a password nobody will type
else
  echo "install-system-deps: need root (or sudo) to install ${missing[*]}" >&2
  exit 1
fi

echo "installing: ${missing[*]}"
"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# CI, last stage: build deploy/Dockerfile into an image and run that image against real
# servers on this host (scripts/container_check.py: Dovecot, PostgreSQL, an SMTP sink).
#
# Engine: docker if a Docker daemon answers, otherwise podman + buildah from Debian's packages
# (installed here, non-interactively). Base image: the Dockerfile's default from a registry
# if one answers, otherwise a Debian bookworm + python3 (3.11) root made with debootstrap,
# cached in $DSR_BOT_CI_CACHE (default /var/cache/dsr-bot-ci) between runs.
# A host where no container can run fails here with the reason; this stage never passes
# without having run the image.
#
# Settings (environment): DSR_BOT_CI_CACHE; DSR_BOT_CI_BASE=registry|debootstrap to skip the
# registry probe; DSR_BOT_CI_EXTRA_CA=<PEM file> for a TLS-intercepting proxy (default: every
# certificate in /usr/local/share/ca-certificates, where Debian keeps locally added CAs);
# DSR_BOT_TEST_POSTGRES_URL as for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

cache="${DSR_BOT_CI_CACHE:-/var/cache/dsr-bot-ci}"
image="localhost/dsr-bot:ci"
registry_image="docker.io/library/python:3.11-slim-bookworm"
suite=bookworm
base_packages="python3,python3-venv,python-is-python3,ca-certificates"
mirror="${DSR_BOT_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

say() { echo "container-test: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
elapsed() { echo "$((SECONDS - $1))s"; }

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  as_root=(false)
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

apt_install() {
  local missing=()
  for package in "$@"; do installed "$package" || missing+=("$package"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 \
    || die "no Docker daemon answers and there is no apt-get to install ${missing[*]}: install docker or podman+buildah"
  say "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -q >&2 \
    || die "apt-get update failed (need root or password-less sudo to install ${missing[*]})"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}" >&2 || die "could not install ${missing[*]}"
}

mkdir -p "$cache" 2>/dev/null || "${as_root[@]}" install -d -o "$(id -u)" "$cache" \
  || die "cannot create the cache directory $cache (set DSR_BOT_CI_CACHE)"

# -- 1. the engine ---------------------------------------------------------------------------
engine=""
if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
  engine=docker
  say "engine: docker ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
  if command -v docker >/dev/null 2>&1; then
    why=$(timeout 20 docker info 2>&1 | grep -m1 -iE 'cannot|error' || true)
    say "a docker client is here but no daemon answers (${why:-no answer in 20 s}); using podman"
  fi
  # runc: crun (podman's default) refuses hosts with hybrid cgroups (v1 controllers plus a
  # v2 mount); iptables: podman's bridge network.
  apt_install podman buildah runc iptables uidmap
  engine=podman
  # Settings this kind of host needs (docs/operations.md, "Podman"). CONTAINERS_CONF makes
  # podman read this file instead of /etc/containers/containers.conf, so the host keeps its own.
  # A container cannot be given more than the hard limits its runtime starts with: podman's
  # defaults (nofile 1048576, nproc from podman itself) are above them on hosts like this one,
  # and every `podman run` fails with "error setting rlimit ... operation not permitted".
  # nproc: here the host's hard limit was 96367, yet runc's init held only 32768, so take
  # 16384 (dsr-bot runs a few threads) unless the host allows even less.
  hard_nofile=$(ulimit -Hn)
  hard_nproc=$(ulimit -Hu)
  [ "$hard_nofile" = unlimited ] && hard_nofile=1048576
  [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 16384 ] && hard_nproc=16384
  ulimits=("\"nofile=$hard_nofile:$hard_nofile\"" "\"nproc=$hard_nproc:$hard_nproc\"")
  {
    echo "[containers]"
    echo "default_ulimits = [$(IFS=,; echo "${ulimits[*]}")]"
    echo "[engine]"
    echo 'runtime = "runc"'
    echo 'cgroup_manager = "cgroupfs"'  # no systemd as PID 1 here
    echo 'events_logger = "file"'
  } > "$cache/containers.conf"
  export CONTAINERS_CONF="$cache/containers.conf"
  say "engine: $(podman --version), runtime runc, ulimits ${ulimits[*]:-host}"
fi

# -- 2. the base image -----------------------------------------------------------------------
base_mode="${DSR_BOT_CI_BASE:-}"
if [ -z "$base_mode" ]; then
  if timeout 60 "$engine" pull -q "$registry_image" >/dev/null 2>"$cache/pull.err"; then
    base_mode=registry
  else
    base_mode=debootstrap
    say "no registry answers ($(tail -n1 "$cache/pull.err" | cut -c1-160)); building on a local debootstrap base"
  fi
fi
if [ "$base_mode" = registry ]; then
  base="$registry_image"
else
  # The cache key changes with anything that changes the root filesystem's recipe.
  key=$(printf '%s %s %s' "$suite" "$base_packages" "$(dpkg --print-architecture)" | sha256sum | cut -c1-12)
  base="localhost/dsr-bot-ci-base:$suite-$key"
  tarball="$cache/base-$suite-$key.tar"
  if ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    if [ ! -s "$tarball" ]; then
      apt_install debootstrap
      t=$SECONDS
      root=$(mktemp -d /var/tmp/dsr-bot-base.XXXXXX)
      say "debootstrap $suite ($base_packages) into $root"
      "${as_root[@]}" debootstrap --variant=minbase --include="$base_packages" \
        "$suite" "$root" "$mirror" > "$cache/debootstrap.log" 2>&1 \
        || { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
      # What an image does not need: package caches and lists, documentation.
      "${as_root[@]}" rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
      "${as_root[@]}" tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
      "${as_root[@]}" rm -rf "$root"
      say "base root filesystem made in $(elapsed $t)"
    fi
    "$engine" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["python3"]' \
      "$tarball" "$base" >/dev/null || die "$engine import of $tarball failed"
  fi
fi
say "base image: $base"

# Can this host run a container at all? Ask before spending a minute on the build.
if ! out=$("$engine" run --rm --network host "$base" python3 -c 'print("ok")' 2>&1); then
  die "$engine cannot run a container (from $base) on this host: $out"
fi

# -- 3. build --------------------------------------------------------------------------------
build_args=(--build-arg "PYTHON_IMAGE=$base")
ca_files=()
if [ -n "${DSR_BOT_CI_EXTRA_CA:-}" ]; then
  ca_files=("$DSR_BOT_CI_EXTRA_CA")
else
  shopt -s nullglob
  ca_files=(/usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt)
  shopt -u nullglob
fi
if [ "${#ca_files[@]}" -gt 0 ]; then
  build_args+=(--build-arg "EXTRA_CA_CERTS=$(cat "${ca_files[@]}")")
  say "trusting ${#ca_files[@]} extra CA certificate(s) while downloading: ${ca_files[*]}"
fi
[ -n "${PIP_INDEX_URL:-}" ] && build_args+=(--build-arg "PACKAGE_INDEX_URL=$PIP_INDEX_URL")
ignore=()
[ "$engine" = podman ] && ignore=(--ignorefile deploy/Dockerfile.dockerignore)
previous=$("$engine" image inspect "$image" --format '{{.Id}}' 2>/dev/null || true)
t=$SECONDS
# Host networking: the build needs nothing but the package index, and it spares a bridge.
"$engine" build --network host "${ignore[@]}" -f deploy/Dockerfile -t "$image" \
  "${build_args[@]}" . > "$cache/build.log" 2>&1 \
  || { tail -n 40 "$cache/build.log" >&2; die "image build failed (log: $cache/build.log)"; }
build_seconds=$((SECONDS - t))
size=$("$engine" image inspect "$image" --format '{{.Size}}')
# The image this build replaced would otherwise stay behind, untagged, on every change.
current=$("$engine" image inspect "$image" --format '{{.Id}}')
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  "$engine" rmi "$previous" >/dev/null 2>&1 || true
fi
say "built $image in ${build_seconds}s, $((size / 1000000)) MB"

# -- 4. run it against Dovecot, PostgreSQL and an SMTP sink on this host ------------------------
source scripts/venv.sh
ensure_venv "test"
export DSR_BOT_TEST_POSTGRES_URL="${DSR_BOT_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
bash scripts/ensure-postgres.sh "$DSR_BOT_TEST_POSTGRES_URL"
.venv/bin/python scripts/container_check.py --engine "$engine" --image "$image" \
  --build-seconds "$build_seconds"
say "passed in $(elapsed "$started")"

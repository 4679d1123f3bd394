#!/usr/bin/env bash
# Unpacks Debian's docker-registry (the CNCF distribution registry) into the per-user cache with
# `apt-get download` + `dpkg -x`, which skips the package's service scripts. Idempotent.
set -euo pipefail
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
DEST="$CACHE/registry"
BIN="$DEST/usr/bin/docker-registry"
if [[ -x "$BIN" ]]; then
  echo "install-registry: docker-registry found at $BIN"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-registry: needs apt-get (Debian/Ubuntu) to fetch docker-registry" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download docker-registry >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get download docker-registry >/dev/null; }
mkdir -p "$DEST"
dpkg -x docker-registry_*.deb "$DEST"
echo "install-registry: unpacked $(basename docker-registry_*.deb) into $DEST"

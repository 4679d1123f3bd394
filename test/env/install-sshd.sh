#!/usr/bin/env bash
# Unpacks Debian's openssh-server (and libwrap0, the one library of sshd's a base system lacks) into the
# per-user cache with `apt-get download` + `dpkg -x`: no service scripts, no root. The test bed runs this
# sshd as an unprivileged user (test/env/sshd.ts). Idempotent.
set -euo pipefail
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
DEST="$CACHE/sshd"
BIN="$DEST/usr/sbin/sshd"
LIBS="$DEST/usr/lib/$(uname -m)-linux-gnu"
if [[ -x "$BIN" ]] && ! LD_LIBRARY_PATH="$LIBS" ldd "$BIN" | grep -q "not found"; then
  echo "install-sshd: sshd found at $BIN"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-sshd: needs apt-get (Debian/Ubuntu) to fetch openssh-server" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
packages=(openssh-server libwrap0)
apt-get download "${packages[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get download "${packages[@]}" >/dev/null; }
mkdir -p "$DEST"
for deb in ./*.deb; do dpkg -x "$deb" "$DEST"; done
missing="$(LD_LIBRARY_PATH="$LIBS" ldd "$BIN" | grep "not found" || true)"
if [[ -n "$missing" ]]; then
  echo "install-sshd: sshd still lacks these libraries (install their packages with apt-get):" >&2
  echo "$missing" >&2
  exit 1
fi
echo "install-sshd: unpacked $(ls ./*.deb | xargs -n1 basename | tr '\n' ' ')into $DEST"

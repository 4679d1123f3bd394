#!/usr/bin/env bash
# Installs moto (the AWS emulator: S3, SQS incl. FIFO, Secrets Manager, KMS, STS) into a venv in the
# per-user cache. Idempotent: does nothing when that exact version is already installed.
set -euo pipefail
MOTO_VERSION="5.2.5"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
VENV="$CACHE/moto-venv"
if [[ -x "$VENV/bin/moto_server" ]] && [[ "$("$VENV/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" == "$MOTO_VERSION" ]]; then
  echo "install-moto: moto $MOTO_VERSION found in $VENV"
  exit 0
fi
command -v python3 >/dev/null || { echo "install-moto: python3 is required (apt-get install -y python3 python3-venv)" >&2; exit 1; }
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
echo "install-moto: installed moto $MOTO_VERSION into $VENV"

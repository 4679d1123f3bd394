#!/usr/bin/env bash
# Installs what the test bed needs that npm does not: each step is cached per user and quick when
# already done. Needs Go (>= 1.26), Python 3 with venv, git, and apt (for docker-registry and sshd).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/build-k8s.sh"
bash "$here/install-moto.sh"
bash "$here/install-registry.sh"
bash "$here/install-sshd.sh"
bash "$here/build-sops.sh"
bash "$here/build-nats.sh"
bash "$here/build-cosign.sh"
bash "$here/build-flux.sh"
bash "$here/build-podinfo-chart.sh"

#!/usr/bin/env bash
# Installs the real components the test suite starts on loopback: Prometheus and promtool,
# an SMTP server (python3-aiosmtpd), a JSON Schema validator, openssl for test certificates and
# chromium (headless, to render replay.html)
# (Debian packages). Idempotent: does nothing when they are already present.
# Never lets a package's init script start a service on a public port.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(prometheus victoria-metrics python3-aiosmtpd python3-jsonschema python3-yaml openssl systemd chromium)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}; run this script as root (or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
echo "installing test components: ${missing[*]}"
timeout 300 apt-get update -q >/dev/null
timeout 600 apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
promtool --version 2>&1 | head -1

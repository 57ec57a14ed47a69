#!/usr/bin/env bash
# Install everything the testbed needs, idempotently and quickly when present:
# Debian packages via apt, Python packages into .venv (from Debian's /usr/bin/python3
# with --system-site-packages, so Debian's mininet module imports).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mininet bridge-utils iproute2 nftables tcpdump tshark iputils-ping net-tools
  strongswan strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins libusrsctp2
  openssh-server busybox python3 python3-venv python3-dev iperf3 socat util-linux procps eapoltest
  gcc libc6-dev make bzip2 pkg-config curl)  # gcc..curl: scripts/build_hpm_plugin.sh

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run 'sudo make setup'" >&2
    exit 3
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive  # tshark asks a debconf question otherwise
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

bash scripts/build_hpm_plugin.sh  # charon's eap-aka-hpm plugin (EAP-AKA answered by the HPM)

PY=/usr/bin/python3
stamp=.venv/.installed
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import mininet.net" 2>/dev/null; then
  rm -rf .venv
  "$PY" -m venv --system-site-packages .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,fuzz]" 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import testbed" || { echo "setup: pip install failed" >&2; exit 1; }
  touch "$stamp"
fi
.venv/bin/python -c "import mininet.net, pycrate_mobile.NAS5G, cryptography, typer, pydantic" \
  || { echo "setup: .venv is broken; remove .venv and rerun" >&2; exit 1; }
echo "setup: ok ($(.venv/bin/python --version), mininet $(.venv/bin/python -c 'import mininet.net as m; print(m.VERSION)'))"

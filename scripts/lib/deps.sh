# Shared install steps for scripts/test, scripts/demo and scripts/bench. Sourced, not run.
# Debian packages the tests use: dnsmasq (real DHCP server), iproute2 (netns, veth),
# libsystemd-dev + pkg-config (pip builds systemd-python), Debian's python3-pyroute2 and
# python3-systemd (netconf must work with Debian's pyroute2 0.7.2 as well as PyPI's 0.9.x),
# systemd-container + debootstrap (the real-systemd system tests), ISC Kea, ISC dhcpd and
# its relay (the other real servers of the integration tests).
LEASEBOX_APT_PACKAGES=(
    dnsmasq-base iproute2 tcpdump libsystemd-dev pkg-config gcc python3-dev
    python3-pyroute2 python3-systemd python3-jeepney dbus-daemon python3-dbus python3-gi
    systemd-container debootstrap kea-dhcp4-server isc-dhcp-server isc-dhcp-relay
)

ensure_apt_packages() {
    local missing=() p
    for p in "${LEASEBOX_APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "== apt-get install ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            echo "need root to install: ${missing[*]}" >&2
            return 1
        fi
        apt-get update -qq
        # The DHCP servers' packages would start their services on the host: the tests run
        # their own, in namespaces. A policy-rc.d says no (one already there is kept).
        local policy=/usr/sbin/policy-rc.d made=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        if [ -n "$made" ]; then rm -f "$policy"; fi
    fi
}

ensure_venv() {
    local py=${LEASEBOX_PYTHON:-python3} stamp=.venv/.leasebox-deps
    local want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -x .venv/bin/python ]; then
        echo "== creating .venv with $($py --version)"
        "$py" -m venv .venv
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== pip install -e .[test]"
        .venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 \
            | grep -v -E "^WARNING: Location 'file:" || true
        .venv/bin/python -c 'import pyroute2, systemd.daemon, scapy, hypothesis' 
        echo "$want" >"$stamp"
    fi
}

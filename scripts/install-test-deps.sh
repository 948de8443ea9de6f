#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite uses: firewall tools, user and group tools, zip/unzip, a C
# compiler, rpm/lintian for the packaging tests. Idempotent and quick when everything is there (one dpkg-query).
# Runs before `npm test` (package.json "pretest") and from .ci/run.
#   as root:      apt-get install of whatever is missing (non-interactive, waits for a held dpkg lock)
#   not root:     prints what is missing and how to install it, and carries on (exit 0); with --sudo (.ci/run)
#                 it uses `sudo -n` instead when that works without a password
#   no dpkg:      prints the list to install by hand, and carries on
# ALPAMON_SKIP_TEST_DEPS=1 skips the check.
set -euo pipefail

readonly APT_PACKAGES=(nftables iptables iproute2 python3 zip unzip util-linux procps passwd adduser strace file ca-certificates openssl rpm rpm2cpio cpio lintian rpmlint systemd gcc libc6-dev)

say() { echo "install-test-deps: $*" >&2; }

[ "${ALPAMON_SKIP_TEST_DEPS:-}" = 1 ] && exit 0
use_sudo=false
[ "${1:-}" = --sudo ] && use_sudo=true

if ! command -v dpkg-query >/dev/null 2>&1; then
  say "not a Debian-family system (no dpkg-query): install the equivalents of: ${APT_PACKAGES[*]}"
  exit 0
fi

# Unknown packages make dpkg-query complain and exit 1; they simply count as missing.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  grep -qxF "$pkg install ok installed" <<<"$installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif $use_sudo && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  cat >&2 <<EOF
install-test-deps: these packages are missing, and installing them needs root:
    ${missing[*]}
  Tests that use them fail or are skipped. To install them:
    sudo apt-get install -y --no-install-recommends ${missing[*]}
EOF
  exit 0
fi

say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
"${SUDO[@]}" apt-get "${APT_OPTS[@]}" update </dev/null
"${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null

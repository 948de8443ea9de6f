#!/bin/sh
# alpamon installer (POSIX sh). Downloads the release for this distro and architecture from
# $ALPAMON_BASE_URL, checks the Ed25519 signature of SHA256SUMS and the file's SHA-256, and only then installs.
# Never pipes downloaded data to a shell; everything runs from main(), so a truncated download runs nothing.
#
# Environment:
#   ALPAMON_BASE_URL       release directory holding SHA256SUMS, SHA256SUMS.sig and the files (required)
#   ALPAMON_INSTALL_MODE   auto (default: .deb or .rpm by distro), deb, rpm, or binary (/usr/bin/alpamon only)
#   ALPAMON_INSTALL_ROOT   install into this directory instead of the system: files are extracted, no
#                          package manager, maintainer script or service runs (for tests and image builds)
#   ALPAMON_DRY_RUN=1      download and verify, print what would be installed, change nothing
#   ALPACON_URL, PLUGIN_ID, PLUGIN_KEY   passed on to the package, whose postinst then runs `alpamon setup`
#
# Verification needs OpenSSL 3 (`openssl pkeyutl -verify -rawin` with an Ed25519 key; 1.1.1 cannot do
# -rawin). The accepted public keys are embedded below; during a key rotation there are two, and a release
# signed with either is accepted (see packaging/keys/README.md).

# BEGIN RELEASE KEYS
release_keys() {
    cat <<'ALPAMON_KEYS'
ALPAMON_KEYS
}
# END RELEASE KEYS

main() {
    set -eu
    EX_CONFIG=78
    base=${ALPAMON_BASE_URL:-}
    mode=${ALPAMON_INSTALL_MODE:-auto}
    root=${ALPAMON_INSTALL_ROOT:-}
    dry_run=${ALPAMON_DRY_RUN:-0}

    say() { printf 'alpamon-install: %s\n' "$*"; }
    die() { code=$1; shift; printf 'alpamon-install: error: %s\n' "$*" >&2; exit "$code"; }

    [ -n "$base" ] || die 1 "set ALPAMON_BASE_URL to the release directory (it holds SHA256SUMS)"
    case "$base" in
        https://*) ;;
        http://127.*|http://localhost*|http://\[::1\]*) ;;
        http://*) say "warning: $base is plain http; the signature check still protects the files" ;;
        *) die 1 "ALPAMON_BASE_URL must start with https:// (got $base)" ;;
    esac
    base=${base%/}
    if [ -n "$root" ]; then
        case "$root" in /*) ;; *) die 1 "ALPAMON_INSTALL_ROOT must be an absolute path" ;; esac
        [ -d "$root" ] || die 1 "ALPAMON_INSTALL_ROOT $root is not a directory"
    elif [ "$dry_run" != 1 ] && [ "$(id -u)" != 0 ]; then
        die 1 "run as root (sudo), or set ALPAMON_DRY_RUN=1"
    fi

    case "$(uname -m)" in
        x86_64|amd64) arch=x64; deb_arch=amd64; rpm_arch=x86_64 ;;
        aarch64|arm64) arch=arm64; deb_arch=arm64; rpm_arch=aarch64 ;;
        *) die "$EX_CONFIG" "unsupported architecture $(uname -m); alpamon ships for x86_64 and aarch64" ;;
    esac

    os_release=""
    for f in "$root/etc/os-release" "$root/usr/lib/os-release"; do
        if [ -r "$f" ]; then os_release=$f; break; fi
    done
    distro_id=""; distro_like=""
    if [ -n "$os_release" ]; then
        # Read the two variables without sourcing the file (it is data, not a script).
        distro_id=$(sed -n 's/^ID=//p' "$os_release" | tr -d '"'"'" | tr 'A-Z' 'a-z')
        distro_like=$(sed -n 's/^ID_LIKE=//p' "$os_release" | tr -d '"'"'" | tr 'A-Z' 'a-z')
    fi
    family=""
    for candidate in $distro_id $distro_like; do
        case "$candidate" in
            debian|ubuntu|raspbian) family=deb; break ;;
            rhel|redhat|centos|fedora|rocky|almalinux|amzn|ol|oracle) family=rpm; break ;;
        esac
    done
    if [ "$mode" = auto ]; then
        [ -n "$family" ] || die "$EX_CONFIG" "unsupported distribution '${distro_id:-unknown}' (ID_LIKE '${distro_like}'); alpamon packages exist for Debian/Ubuntu and RHEL/Fedora families. Set ALPAMON_INSTALL_MODE=binary to install the bare binary instead."
        mode=$family
    fi
    case "$mode" in
        deb) pattern="alpamon_[^ /]*_${deb_arch}\\.deb" ;;
        rpm) pattern="alpamon-[^ /]*-1\\.${rpm_arch}\\.rpm" ;;
        binary) pattern="alpamon-linux-${arch}" ;;
        *) die 1 "ALPAMON_INSTALL_MODE must be auto, deb, rpm or binary (got $mode)" ;;
    esac

    command -v openssl >/dev/null 2>&1 || die 1 "openssl (3.0 or later) is needed to verify the release signature"
    case "$(openssl version 2>/dev/null)" in
        "OpenSSL 3."*|"OpenSSL 4."*) ;;
        *) die 1 "OpenSSL 3.0 or later is needed for Ed25519 verification (found: $(openssl version 2>/dev/null))" ;;
    esac
    command -v sha256sum >/dev/null 2>&1 || die 1 "sha256sum (coreutils) is needed"
    if command -v curl >/dev/null 2>&1; then
        fetch() { curl -fsSL --proto '=https,http' --retry 2 -o "$2" "$1"; }
    elif command -v wget >/dev/null 2>&1; then
        fetch() { wget -q -O "$2" "$1"; }
    else
        die 1 "curl or wget is needed to download the release"
    fi

    tmp=$(mktemp -d "${TMPDIR:-/tmp}/alpamon-install.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT INT TERM

    release_keys > "$tmp/keys"
    # One file per PEM block.
    awk -v dir="$tmp" '/-----BEGIN PUBLIC KEY-----/ { n++ } n { print > (dir "/key" n ".pem") }' "$tmp/keys"
    [ -f "$tmp/key1.pem" ] || die 1 "this install.sh embeds no release key; use the copy published with the release"

    say "downloading $base/SHA256SUMS"
    fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" || die 1 "cannot download $base/SHA256SUMS"
    fetch "$base/SHA256SUMS.sig" "$tmp/SHA256SUMS.sig" || die 1 "cannot download $base/SHA256SUMS.sig"
    verified=""
    for key in "$tmp"/key*.pem; do
        if openssl pkeyutl -verify -pubin -inkey "$key" -rawin -in "$tmp/SHA256SUMS" -sigfile "$tmp/SHA256SUMS.sig" >/dev/null 2>&1; then
            verified=$key; break
        fi
    done
    [ -n "$verified" ] || die 1 "the signature of SHA256SUMS does not verify with any embedded release key; refusing to install"
    say "SHA256SUMS signature verified"

    # Only now is SHA256SUMS trusted: pick this platform's file from it.
    line=$(grep -E "^[0-9a-f]{64}  ${pattern}\$" "$tmp/SHA256SUMS" | head -n 1 || true)
    [ -n "$line" ] || die 1 "the release has no $mode file for $arch"
    want=${line%% *}
    file=${line##* }
    say "downloading $file"
    fetch "$base/$file" "$tmp/$file" || die 1 "cannot download $base/$file"
    got=$(sha256sum "$tmp/$file" | cut -d ' ' -f 1)
    [ "$got" = "$want" ] || die 1 "checksum mismatch for $file (expected $want, got $got); refusing to install"
    say "$file checksum verified"

    if [ "$dry_run" = 1 ]; then
        say "dry run: would install $file as $mode${root:+ into $root}"
        return 0
    fi

    if [ -n "$root" ]; then
        case "$mode" in
            deb) dpkg-deb -x "$tmp/$file" "$root" ;;
            rpm) (cd "$root" && rpm2cpio "$tmp/$file" | cpio -idm --quiet) ;;
            binary) mkdir -p "$root/usr/bin" && install -m 0755 "$tmp/$file" "$root/usr/bin/alpamon" ;;
        esac
        say "installed $file into $root (files only: no maintainer scripts, no service)"
        return 0
    fi

    case "$mode" in
        deb)
            if command -v apt-get >/dev/null 2>&1; then
                DEBIAN_FRONTEND=noninteractive apt-get install -y "$tmp/$file"
            else
                dpkg -i "$tmp/$file"
            fi
            ;;
        rpm)
            if command -v dnf >/dev/null 2>&1; then dnf install -y "$tmp/$file"
            elif command -v yum >/dev/null 2>&1; then yum install -y "$tmp/$file"
            else rpm -Uvh "$tmp/$file"
            fi
            ;;
        binary)
            install -m 0755 "$tmp/$file" /usr/bin/.alpamon.new
            mv -f /usr/bin/.alpamon.new /usr/bin/alpamon
            say "installed /usr/bin/alpamon; the systemd unit comes with the .deb/.rpm packages"
            ;;
    esac
    say "done. Register this server with: sudo alpamon register --url https://<console> --token-file <file>"
}

main "$@"

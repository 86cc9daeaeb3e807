#!/usr/bin/env bash
# Install the Debian 12 packages the build, the tests and the demo need,
# only those missing. Uses sudo when not root. Never prompts.
set -eu
pkgs=(
	cmake make gcc clang clang-format pkg-config   # build, sanitizers, fuzzers, format check
	libclang-rt-14-dev llvm                        # ASan/UBSan/libFuzzer runtimes, symbolizer
	libwolfssl-dev                                 # TLS 1.3, X.509, PK callbacks, CSRs
	libp11-kit-dev                                 # PKCS#11 module loading, RFC 7512 URIs
	libinih-dev                                    # INI config files of mtls-agent
	libsystemd-dev                                 # sd_notify, watchdog, socket activation
	libseccomp-dev                                 # the data plane's system call filter
	libcmocka-dev                                  # unit tests
	softhsm2                                       # the embedded default token
	opensc                                         # pkcs11-tool: an independent PKCS#11 client
	openssl                                        # independent signature verifier and TLS peer
	stunnel4 libengine-pkcs11-openssl              # independent mTLS peer signing on the token
	curl                                           # scrapes the agent's metrics and health endpoint
	systemd                                        # systemd-socket-activate, systemd-analyze (tests)
	strongswan-pki libstrongswan-standard-plugins libstrongswan-extra-plugins # pki --est: independent EST client
	swtpm swtpm-tools libtpm2-pkcs11-1 libtss2-tcti-swtpm0 # software TPM + tpm2-pkcs11 (TPM path tests)
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq </dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null

#!/usr/bin/env bash
# The installed units pass "systemd-analyze verify" without a word: every
# directive known, every value valid, every program they run present and
# executable, every man page of Documentation= installed, every unit they
# name (targets, the service a timer or socket starts) found.
#
# How, without PID 1: the units of a staged install (prefix /usr, DESTDIR)
# are copied and their Exec lines pointed at the staged programs (/usr/... ->
# STAGE/usr/...; /bin/sh and /bin/kill stay the system's). verify --root=
# would look for every unit and program inside the staging tree, which holds
# no sysinit.target, /bin/sh or /bin/kill. SYSTEMD_UNIT_PATH puts the copies
# before the system's units; MANPATH points man at the staged man pages.
# Template units are checked as files (instance "i") and as named instances.
# A copy broken on purpose shows that verify does complain here.
set -eu
. "$(dirname "$0")/systemd_lib.sh"
ST=$SD_DIR/stage
V=$SD_DIR/verify
stage /usr "$ST"
UD=$(unitdir "$ST")
mkdir -p "$V"
units=()
for f in "$UD"/mtls-* "$ST/usr/share/doc/mtls-agent/examples/mtls-agent.socket"; do
	[ -f "$f" ] || sd_fail "missing $f"
	sed "s|^\(Exec[A-Za-z]*=[-@+!:]*\)/usr/|\1$ST/usr/|" "$f" >"$V/${f##*/}"
	units+=("$V/${f##*/}")
done
[ "${#units[@]}" -ge 7 ] || sd_fail "only ${#units[@]} units installed: ${units[*]}"
man_opt=()
if ! command -v man >/dev/null; then
	echo "note: man is not installed: Documentation= pages not checked (--man=no)"
	man_opt=(--man=no)
fi

verify() {
	echo "+ MANPATH=$ST/usr/share/man SYSTEMD_UNIT_PATH=$V: systemd-analyze verify ${man_opt[*]} $*" >&2
	MANPATH=$ST/usr/share/man SYSTEMD_UNIT_PATH=$V: systemd-analyze verify "${man_opt[@]}" "$@" 2>&1
}

out=$(verify "${units[@]}") || sd_fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || sd_fail "systemd-analyze verify said: $out"
echo "ok: ${units[*]##*/}"
out=$(verify mtls-agent@gw1.service mtls-renew@gw1.service mtls-renew@gw1.timer) ||
	sd_fail "systemd-analyze verify failed on instances: $out"
[ -z "$out" ] || sd_fail "systemd-analyze verify said: $out"
echo "ok: instances mtls-agent@gw1.service mtls-renew@gw1.service mtls-renew@gw1.timer"

# The TPM drop-in of the examples, as the README installs it (mtls-.service.d/
# serves every mtls-* service).
mkdir -p "$V/mtls-.service.d"
cp "$ST/usr/share/doc/mtls-agent/examples/tpm.conf" "$V/mtls-.service.d/"
out=$(verify mtls-agent.service mtls-agent@gw1.service mtls-renew.service mtls-renew@gw1.service) ||
	sd_fail "systemd-analyze verify failed with the TPM drop-in: $out"
[ -z "$out" ] || sd_fail "systemd-analyze verify said, with the TPM drop-in: $out"
echo "ok: the four services with examples/tpm.conf in mtls-.service.d/"
rm -r "$V/mtls-.service.d"

# The check has teeth: a program that is not there, an unknown directive.
mkdir -p "$V/broken"
sed -e "s|^ExecStart=$ST/usr/bin/|ExecStart=$ST/usr/sbin/|" -e 's/^RestrictRealtime=/RestrictRealTime=/' \
	"$V/mtls-agent.service" >"$V/broken/mtls-agent.service"
out=$(verify "$V/broken/mtls-agent.service" || true)
echo "$out" | sed 's/^/  broken copy: /'
echo "$out" | grep -q 'is not executable' || sd_fail "verify did not notice a missing program"
echo "$out" | grep -q "Unknown key 'RestrictRealTime'" || sd_fail "verify did not notice an unknown directive"
echo "ok: verify reports a missing program and an unknown directive"

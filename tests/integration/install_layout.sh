#!/usr/bin/env bash
# "cmake --install" with the prefix /usr (as a Debian package is built)
# puts every file where Debian looks for it, the units name the programs
# where they were put, systemd-sysusers and systemd-tmpfiles accept the
# snippets (run on the staging tree with --root=) and make the user, the
# group memberships and the directories the units expect. With the prefix
# /usr/local, units and snippets go under /usr/local/lib, which systemd
# reads too, and name /usr/local/bin.
set -eu
. "$(dirname "$0")/systemd_lib.sh"
ST=$SD_DIR/stage
stage /usr "$ST"
UD=$(unitdir "$ST")

has() {
	local kind=$1 f
	shift
	for f in "$@"; do
		case $kind in
		x) [ -f "$ST$f" ] && [ -x "$ST$f" ] || sd_fail "no executable $f" ;;
		f) [ -f "$ST$f" ] || sd_fail "no $f" ;;
		esac
		echo "  $f"
	done
}
echo "installed (prefix /usr):"
has x /usr/bin/mtls-agent /usr/bin/mtls-provision /usr/libexec/mtls/mtls-signer
for m in /usr/share/man/man8/mtls-agent.8 /usr/share/man/man1/mtls-provision.1; do
	if [ -f "$ST$m.gz" ]; then has f "$m.gz"; else has f "$m"; fi
done
for u in mtls-agent.service mtls-agent@.service mtls-renew.service mtls-renew@.service \
	mtls-renew.timer mtls-renew@.timer; do
	has f "${UD#"$ST"}/$u"
	mode=$(stat -c %a "$UD/$u")
	[ "$mode" = 644 ] || sd_fail "$u has mode $mode, want 644"
done
has f /usr/lib/sysusers.d/mtls-agent.conf /usr/lib/tmpfiles.d/mtls-agent.conf
has f /usr/share/doc/mtls-agent/examples/mtls-agent.conf.example \
	/usr/share/doc/mtls-agent/examples/mtls-agent.socket /usr/share/doc/mtls-agent/examples/renew.env.example \
	/usr/share/doc/mtls-agent/examples/tpm.conf
[ "$(unit_values "$UD/mtls-agent.service" ExecStart)" = "/usr/bin/mtls-agent --config /etc/mtls-agent/agent.conf" ] ||
	sd_fail "mtls-agent.service runs $(unit_values "$UD/mtls-agent.service" ExecStart)"
unit_values "$UD/mtls-renew.service" ExecStart | grep -q '^/usr/bin/mtls-provision renew ' ||
	sd_fail "mtls-renew.service runs $(unit_values "$UD/mtls-renew.service" ExecStart)"
if grep -l '@[A-Z_]*@' "$UD"/mtls-* >&2; then sd_fail "a unit kept an @VARIABLE@"; fi
echo "ok: files in place, units run /usr/bin"

# The snippets, applied to the staging tree as the README applies them.
mkdir -p "$ST/etc"
echo "+ systemd-sysusers --root=$ST mtls-agent.conf"
systemd-sysusers --root="$ST" mtls-agent.conf 2>&1 | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || sd_fail "systemd-sysusers refused the snippet"
grep -q '^mtls:x:[0-9]*:[0-9]*:[^:]*:/var/lib/mtls-agent:/usr/sbin/nologin$' "$ST/etc/passwd" ||
	sd_fail "no system user mtls (home /var/lib/mtls-agent, no login): $(cat "$ST/etc/passwd")"
grep -q '^softhsm:x:[0-9]*:\(.*,\)\?mtls\(,.*\)\?$' "$ST/etc/group" ||
	sd_fail "mtls is not in group softhsm: $(cat "$ST/etc/group")"
uid=$(awk -F: '$1 == "mtls" { print $3 }' "$ST/etc/passwd")
gid=$(awk -F: '$1 == "mtls" { print $3 }' "$ST/etc/group")
echo "+ systemd-tmpfiles --root=$ST --create mtls-agent.conf"
out=$(systemd-tmpfiles --root="$ST" --create mtls-agent.conf 2>&1) || sd_fail "systemd-tmpfiles failed: $out"
[ -z "$out" ] || sd_fail "systemd-tmpfiles said: $out"
dir_is() {
	local got
	got=$(stat -c '%a %u %g' "$ST$1")
	[ "$got" = "$2" ] || sd_fail "$1 is $got (mode uid gid), want $2"
	echo "  $1: $got"
}
dir_is /etc/mtls-agent "750 0 $gid"
dir_is /var/lib/mtls-agent "750 $uid $gid"
echo "ok: systemd-sysusers and systemd-tmpfiles accept the snippets"

# Another prefix: everything follows it.
ST2=$SD_DIR/stage-local
stage /usr/local "$ST2"
for f in lib/systemd/system/mtls-agent.service lib/systemd/system/mtls-renew.timer \
	lib/sysusers.d/mtls-agent.conf lib/tmpfiles.d/mtls-agent.conf; do
	[ -f "$ST2/usr/local/$f" ] || sd_fail "prefix /usr/local: no /usr/local/$f"
done
unit_values "$ST2/usr/local/lib/systemd/system/mtls-agent.service" ExecStart | grep -q '^/usr/local/bin/mtls-agent ' ||
	sd_fail "prefix /usr/local: the unit runs $(unit_values "$ST2/usr/local/lib/systemd/system/mtls-agent.service" ExecStart)"
echo "ok: prefix /usr/local: units in /usr/local/lib/systemd/system run /usr/local/bin/mtls-agent"

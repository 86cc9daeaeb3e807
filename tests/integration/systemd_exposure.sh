#!/usr/bin/env bash
# "systemd-analyze security --offline=true" rates the installed services;
# mtls-agent.service, and the template and renewal services that share its
# hardening lines, must stay at 2.0 or below ("OK"; systemd's scale runs
# from 0, fully confined, to 10); so must mtls-agent.service with the TPM
# drop-in of the examples. Prints each figure and what still counts.
set -eu
. "$(dirname "$0")/systemd_lib.sh"
ST=$SD_DIR/stage
stage /usr "$ST"
UD=$(unitdir "$ST")
bad=0
# rate LABEL UNIT: print and check the exposure of UNIT (a path or a name).
rate() {
	local out level
	echo "+ systemd-analyze security --offline=true $2"
	out=$(systemd-analyze security --offline=true --no-pager "$2" 2>&1) ||
		sd_fail "systemd-analyze security failed on $2: $out"
	level=$(echo "$out" | sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\).*$/\1/p')
	[ -n "$level" ] || sd_fail "no exposure level for $2 in: $out"
	echo "exposure $1: $level"
	echo "$out" | grep '✗' | sed 's/  */ /g; s/^/  /'
	RATED=$out
	awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || { echo "FAIL: $1: $level > 2.0" >&2; bad=1; }
}
for u in mtls-agent.service mtls-agent@.service mtls-renew.service mtls-renew@.service; do
	rate "$u" "$UD/$u"
done
mkdir -p "$SD_DIR/units/mtls-.service.d"
cp "$UD/mtls-agent.service" "$SD_DIR/units/"
cp "$ST/usr/share/doc/mtls-agent/examples/tpm.conf" "$SD_DIR/units/mtls-.service.d/"
SYSTEMD_UNIT_PATH=$SD_DIR/units: rate "mtls-agent.service with examples/tpm.conf" mtls-agent.service
echo "$RATED" | grep -q 'DeviceAllow=.*/dev/tpmrm0:rw' || sd_fail "the TPM drop-in was not applied"
[ "$bad" = 0 ] || exit 1
echo "ok: every service at 2.0 or below"

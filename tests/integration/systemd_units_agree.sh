#!/usr/bin/env bash
# The four services carry one hardening block, line for line, and each
# template says what its plain unit says but for the instance name: systemd
# has no includes, so the copies are kept equal by this test.
set -eu
. "$(dirname "$0")/systemd_lib.sh"
ST=$SD_DIR/stage
stage /usr "$ST"
UD=$(unitdir "$ST")
ref=$SD_DIR/hardening.ref
hardening "$UD/mtls-agent.service" >"$ref"
[ "$(grep -c '^[A-Z]' "$ref")" -ge 30 ] || sd_fail "the hardening block of mtls-agent.service is missing or short"
for u in mtls-agent@.service mtls-renew.service mtls-renew@.service; do
	hardening "$UD/$u" | diff -u "$ref" - >&2 || sd_fail "the hardening block of $u differs from mtls-agent.service's"
done
echo "ok: one hardening block ($(grep -c '^[A-Z]' "$ref") directives) in the four services"

# directives PLAIN TEMPLATE SED: the directive lines of both, the template's
# with its instance name folded back by SED; they must be the same.
directives() { grep -v -e '^#' -e '^$' "$1"; }
same() {
	directives "$UD/$2" | sed "$3" | diff -u <(directives "$UD/$1") - >&2 ||
		sd_fail "$2 differs from $1 in more than the instance"
	echo "ok: $2 is $1 but for the instance"
}
same mtls-agent.service mtls-agent@.service \
	's| (%i)$||; s|/%i\.conf|/agent.conf|; s|/%i\.pin|/pin|; s|mtls-agent@%i$|mtls-agent|; s|mtls-agent/%i$|mtls-agent|'
same mtls-renew.service mtls-renew@.service \
	's| (%i)$||; s|/%i\.renew\.env|/renew.env|; s|/%i\.pin|/pin|; s|mtls-agent@%i|mtls-agent|g; s|mtls-agent/%i$|mtls-agent|'
same mtls-renew.timer mtls-renew@.timer 's| (%i)$||'

# stunnel with a key on a PKCS#11 token through libp11's engine (sourced by
# tests/integration/agent_stunnel.sh and tests/bench/bench_lib.sh).
#
# stunnel_global LOG ENGINE MODULE PIN_FILE: the global section on stdout,
# the PIN in it: write it into a file made with mode 0600 first. It avoids
# stunnel's pitfalls: no syslog (without a syslog daemon it
# writes to /dev/console at about 2 ms a line), debug 4 into LOG, MODULE_PATH
# set so p11-kit's proxy does not load every registered module, the PIN by
# engineCtrl (without one the engine prompts and stunnel then reports a
# misleading "No such file or directory").
stunnel_global() {
	cat <<CONF
foreground = yes
pid =
syslog = no
debug = 4
output = $1
engine = dynamic
engineCtrl = SO_PATH:$2
engineCtrl = ID:pkcs11
engineCtrl = LIST_ADD:1
engineCtrl = LOAD
engineCtrl = MODULE_PATH:$3
engineCtrl = PIN:$(cat "$4")
engineCtrl = INIT
CONF
}

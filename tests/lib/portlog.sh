# port_in_log FILE: the port of a "port N" line a tool (mtls-echo,
# mtls-bench, est-server) prints on start, waiting up to 5 s for it;
# returns 1 without one. Sourced by the agent tests and the benchmark.
port_in_log() {
	local i p
	for i in $(seq 1 100); do
		p=$(awk '/^port / { print $2; exit }' "$1" 2>/dev/null)
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.05
	done
	return 1
}

#!/usr/bin/env bash
# NAT lab tests: baresip and linphonec behind an nftables masquerade NAT in network
# namespaces, EPSIP on the public side; and the upstream's DNS server
# gone silent (test_dns_outage.py).  Needs root, ip netns, nft,
# conntrack, tcpdump, baresip, linphonec.
# usage: run.sh BIN_DIR [pytest args...]
# When the lab cannot run here, every test is reported skipped with the
# reason ("nat: 0 passed, 0 failed, N skipped"), and the exit status is 0.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [pytest args...]" >&2; exit 2; }
bin=$(cd "$1" && pwd) || exit 2; shift
cd "$(dirname "$0")"
# pytest still collects the tests, and conftest.py marks each skipped.
skip() {
	echo "nat lab cannot run here: $*"
	EPSIP_NAT_SKIP="$*" exec ../run-pytest.sh nat "${pytest_args[@]}"
}
pytest_args=("$@")
[ "$(id -u)" = 0 ] || skip "not root (network namespaces need CAP_SYS_ADMIN)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 ||
	skip "no 'ip netns' (iproute2)"
for tool in baresip linphonec nft conntrack tcpdump; do
	command -v "$tool" >/dev/null ||
		skip "$tool not installed (Debian: baresip-core linphone-cli nftables conntrack tcpdump)"
done
[ -x "$bin/epsipd" ] || { echo "no $bin/epsipd: run make first" >&2; exit 2; }
probe=epsip-nat-probe-$$
if ! ip netns add "$probe" 2>/dev/null; then
	skip "cannot create network namespaces"
fi
ok=1
ip netns exec "$probe" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=20 \
	2>/dev/null || ok=0
ip netns exec "$probe" nft list ruleset >/dev/null 2>&1 || ok=0
ip netns del "$probe"
[ $ok = 1 ] || skip "no per-namespace conntrack sysctls or nftables in this kernel"
export EPSIP_BIN="$bin"
../run-pytest.sh nat "${pytest_args[@]}"
rc=$?
left=$(ip netns list | grep -c '^epsip-nat-' || true)
[ "$left" = 0 ] || { echo "nat: $left namespace(s) left behind" >&2; rc=1; }
exit $rc

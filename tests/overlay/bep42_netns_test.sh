#!/usr/bin/env bash
# BEP 42 against libtorrent, which checks node ids only for public addresses (127/8, 10/8,
# 172.16/12, 192.168/16 and 169.254/16 are exempt): so this test makes two network
# namespaces joined by a veth pair and gives them addresses of TEST-NET-3 (203.0.113.0/24,
# RFC 5737), which exist only inside them, and removes them at the end.
#   host A: a libtorrent 2.0 DHT node at 203.0.113.1 with dht_enforce_node_id on;
#   host B: `nexo overlay node --bind 203.0.113.2` (its id derived per BEP 42 from that
#           address, the tool's default for a public address) and a second nexo node at
#           203.0.113.3 with a forged id (--id), both bootstrapping from host A.
# Passes when libtorrent's routing table holds the BEP 42 node and not the forged one, and
# the forged node's bootstrap fails naming libtorrent's refusal.
# Needs root, ip(8) and python3-libtorrent: without them it fails under CI=true (CI must
# run everything) and is skipped (exit 77) otherwise.
# usage: bep42_netns_test.sh NEXO_BINARY LT_DHT_PY WORK_DIR
set -eu
nexo=$1
lt_dht=$2
work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
missing() {
  [ "${CI:-}" = "true" ] && fail "CI=true, so this must run, but: $*"
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1 ||
  missing "needs root and ip(8) to make network namespaces"
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null ||
  missing "needs python3-libtorrent (apt-get install python3-libtorrent)"

a="nx42-$$-a"
b="nx42-$$-b"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$a"
ip netns add "$b"
ip link add "nx42a$$" netns "$a" type veth peer name "nx42b$$" netns "$b"
ip -n "$a" link set lo up
ip -n "$b" link set lo up
ip -n "$a" addr add 203.0.113.1/24 dev "nx42a$$"
ip -n "$b" addr add 203.0.113.2/24 dev "nx42b$$"
ip -n "$b" addr add 203.0.113.3/24 dev "nx42b$$"
ip -n "$a" link set "nx42a$$" up
ip -n "$b" link set "nx42b$$" up

# Each program reads its commands from a FIFO that this script holds open for writing.
rm -f "$work"/lt.in "$work"/good.in "$work"/forged.in
mkfifo "$work/lt.in" "$work/good.in" "$work/forged.in"
ip netns exec "$a" /usr/bin/python3 "$lt_dht" --nodes 1 --port 6881 --address 203.0.113.1 \
  --enforce-node-id <"$work/lt.in" >"$work/lt.out" 2>"$work/lt.err" &
pids+=($!)
exec 3>"$work/lt.in"
for _ in $(seq 150); do
  grep -q '^ready' "$work/lt.out" && break
  sleep 0.2
done
grep -q '^ready' "$work/lt.out" || fail "libtorrent did not start: $(cat "$work/lt.err")"

# The node whose id BEP 42 derives from 203.0.113.2, and one with a forged id (the first
# bytes of a BEP 42 id for 203.0.113.2 are fixed by the address; an id of all zeros is not
# one of them).
ip netns exec "$b" "$nexo" overlay node --bind 203.0.113.2 --port 6881 \
  --bootstrap 203.0.113.1:6881 <"$work/good.in" >"$work/good.out" 2>&1 &
pids+=($!)
exec 4>"$work/good.in"
ip netns exec "$b" "$nexo" overlay node --bind 203.0.113.3 --port 6881 \
  --id 0000000000000000000000000000000000000001 --bootstrap 203.0.113.1:6881 \
  <"$work/forged.in" >"$work/forged.out" 2>&1 &
pids+=($!)
exec 5>"$work/forged.in"

wait_for() {  # FILE PATTERN SECONDS
  for _ in $(seq $(($3 * 5))); do
    grep -qE "$2" "$1" && return 0
    sleep 0.2
  done
  return 1
}
wait_for "$work/good.out" 'bootstrapped from|bootstrap .* failed' 30 ||
  fail "the BEP 42 node did not finish its bootstrap: $(cat "$work/good.out")"
wait_for "$work/forged.out" 'bootstrapped from|bootstrap .* failed' 30 ||
  fail "the forged node did not finish its bootstrap: $(cat "$work/forged.out")"
grep -q 'bootstrapped from 203.0.113.1:6881' "$work/good.out" ||
  fail "the BEP 42 node was not taken by libtorrent: $(cat "$work/good.out")"
grep -q "refused with KRPC error 203 'invalid node ID'" "$work/forged.out" ||
  fail "the forged node's bootstrap does not name libtorrent's refusal: $(cat "$work/forged.out")"

table=""
for _ in $(seq 50); do
  echo "table_eps 0" >&3
  wait_for "$work/lt.out" '^table' 5 || fail "libtorrent does not answer: $(cat "$work/lt.err")"
  table=$(grep '^table' "$work/lt.out" | tail -1)
  case " $table " in *" 203.0.113.2:6881 "*) break ;; esac
  sleep 0.2
done
case " $table " in
  *" 203.0.113.2:6881 "*) ;;
  *) fail "libtorrent's routing table lacks the BEP 42 node 203.0.113.2:6881: '$table'" ;;
esac
case " $table " in
  *" 203.0.113.3:"*) fail "libtorrent's routing table holds the forged node: '$table'" ;;
esac
echo "libtorrent (dht_enforce_node_id) $(head -1 "$work/lt.out" | cut -d' ' -f4-): $table"
echo "BEP 42 node: $(head -1 "$work/good.out")"
echo "forged node: $(grep -o 'refused with .*' "$work/forged.out" | head -1)"
echo quit >&3
echo quit >&4
echo quit >&5
echo "PASS"

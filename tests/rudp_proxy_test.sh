#!/usr/bin/env bash
# rudp:// between two processes through a third, `nexo fault-proxy`, that loses
# 10%, duplicates 5%, reorders 5% and corrupts 1% of the datagrams, both ways:
#   nexo send rudp://proxy --numbered  ->  nexo fault-proxy  ->  nexo recv rudp://
# Every message must arrive exactly once, in order, intact.
# Usage: rudp_proxy_test.sh NEXO [COUNT] [SEED]
set -euo pipefail
nexo=$1
count=${2:-100000}
seed=${3:-7}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# port_of FILE: the port a process reported ("listening on ADDRESS:PORT") on stderr.
port_of() {
  for _ in $(seq 1 200); do
    local port
    port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$1")
    if [[ -n $port ]]; then echo "$port"; return 0; fi
    read -rt 0.05 <> <(:) || true
  done
  echo "no port reported in $1: $(cat "$1")" >&2
  return 1
}

"$nexo" recv rudp://127.0.0.1:0 --count "$count" >"$work/recv.out" 2>"$work/recv.err" &
recv_pid=$!
pids+=("$recv_pid")
recv_port=$(port_of "$work/recv.err")

"$nexo" fault-proxy --listen 0 --to "127.0.0.1:$recv_port" --loss 0.1 --dup 0.05 --reorder 0.05 \
  --corrupt 0.01 --seed "$seed" >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
proxy_port=$(port_of "$work/proxy.err")

echo "fault seed $seed: $count messages, nexo send -> fault-proxy :$proxy_port -> nexo recv :$recv_port"
start=$SECONDS
timeout 600 "$nexo" send "rudp://127.0.0.1:$proxy_port" m --count "$count" --numbered --quiet --timeout 30000
if ! timeout 60 tail --pid="$recv_pid" -f /dev/null; then
  echo "FAIL: nexo recv did not get $count messages: $(wc -l <"$work/recv.out") lines" >&2
  exit 1
fi
wait "$recv_pid"
kill -INT "$proxy_pid"
wait "$proxy_pid" || true
cat "$work/proxy.out"
echo "took $((SECONDS - start)) s"

# Exactly once, in order, intact: line k is "Received: m k-1".
awk -v n="$count" '
  $0 != "Received: m " NR - 1 { printf "FAIL: line %d is \"%s\"\n", NR, $0; bad = 1; exit 1 }
  END { if (!bad && NR != n) { printf "FAIL: %d lines, expected %d\n", NR, n; exit 1 } }
' "$work/recv.out"
grep -q "lost [1-9]" "$work/proxy.out" || { echo "FAIL: the proxy lost nothing" >&2; exit 1; }
grep -q "corrupted [1-9]" "$work/proxy.out" || { echo "FAIL: the proxy corrupted nothing" >&2; exit 1; }
echo "ok: $count messages exactly once, in order, intact"

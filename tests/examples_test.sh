#!/usr/bin/env bash
# Every program in examples/ run as its header says, its output checked: the
# chapter's UDP, TCP and multicast programs, the two server designs and the two
# kinds of send. Loopback only; servers bind port 0 and print it.
set -uo pipefail
bin=${1:?usage: examples_test.sh PATH/TO/bin/examples PATH/TO/nexo}
nexo=${2:?usage: examples_test.sh PATH/TO/bin/examples PATH/TO/nexo}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
failures=0
passes=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; passes=$((passes + 1)); }

# wait_for FILE REGEX: until a line of FILE matches (10 s at most).
wait_for() {
  for _ in $(seq 1 200); do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    read -rt 0.05 <> <(:) || true
  done
  return 1
}
# start NAME program args...: runs it in the background, stdout to $work/NAME.out.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  server_pid=$!
}
port_of() { sed -n "s/$2/\\1/p" "$work/$1.out" | head -1; }

start udp_server "$bin/udp_server" 0
if wait_for "$work/udp_server.out" '^udp_server: listening on .*:[0-9]+$'; then
  port=$(port_of udp_server '.*:\([0-9]*\)$')
  out=$(timeout 20 "$bin/udp_client" "Hello, UDP" 127.0.0.1 "$port")
  [[ $out == "Reply: Hello, UDP" ]] && pass "udp_client gets the udp_server's echo" || fail "udp_client printed '$out'"
else
  fail "udp_server did not start: $(cat "$work/udp_server.err")"
fi
kill "$server_pid"

start tcp_server "$bin/tcp_server" 0
if wait_for "$work/tcp_server.out" '^tcp_server: listening on .*:[0-9]+$'; then
  port=$(port_of tcp_server '.*:\([0-9]*\)$')
  out=$(timeout 20 "$bin/tcp_client" "Asunción" 127.0.0.1 "$port")
  [[ $out == "Received: Asunción" ]] && pass "tcp_client gets the tcp_server's echo" || fail "tcp_client printed '$out'"
else
  fail "tcp_server did not start: $(cat "$work/tcp_server.err")"
fi
kill "$server_pid"

for server in event_driven_server thread_per_connection_server; do
  start "$server" "$bin/$server" 0
  if wait_for "$work/$server.out" 'server on '; then
    port=$(port_of "$server" '.*[:t] *\([0-9][0-9]*\)\( .*\)\{0,1\}$')
    out=$(timeout 20 "$nexo" send "tcp://127.0.0.1:$port" "to the $server" --sync)
    [[ $out == "Taken: to the $server" ]] && pass "$server takes a synchronous send" || fail "nexo send to $server printed '$out'"
    wait_for "$work/$server.out" "to the $server" && pass "$server prints the message" \
      || fail "$server printed: $(cat "$work/$server.out")"
    if [[ $server == event_driven_server ]]; then
      out=$(timeout 20 "$bin/send_sync_async" "tcp://127.0.0.1:$port")
      [[ $out == *"left after "*" polls"* && $out == *"callback: left"* && $out == *"send_sync: taken by the receiver"* ]] \
        && pass "send_sync_async: polled, called back, taken" || fail "send_sync_async printed '$out'"
    fi
  else
    fail "$server did not start: $(cat "$work/$server.err")"
  fi
  kill "$server_pid"
done

group=239.255.43.$((RANDOM % 200 + 1))
mport=$((20000 + RANDOM % 40000))
start multicast_peer "$bin/multicast_peer" "from the example" "$group" lo "$mport"
if wait_for "$work/multicast_peer.out" '^Received: from the example$'; then
  for i in 1 2; do
    out=$(timeout 20 "$nexo" mcast peer "from nexo $i" "$group" --port "$mport" --interface lo --count 0)
    [[ -z $out ]] || fail "nexo mcast peer --count 0 printed '$out'"
  done
  wait "$server_pid" && pass "multicast_peer received three and left" || fail "multicast_peer exit $?"
  [[ $(cat "$work/multicast_peer.out") == $'Received: from the example\nReceived: from nexo 1\nReceived: from nexo 2' ]] \
    && pass "multicast_peer prints the group's messages" || fail "multicast_peer printed: $(cat "$work/multicast_peer.out")"
else
  fail "multicast_peer did not receive its own message: $(cat "$work/multicast_peer.err")"
fi

echo "examples: $passes passed, $failures failed"
[[ $failures -eq 0 ]]

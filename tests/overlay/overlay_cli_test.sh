#!/usr/bin/env bash
# nexo overlay as scripts use it (loopback only, ports chosen by the kernel):
#   - a `nexo overlay node` in the background on a free loopback port; `nexo overlay put`
#     from one process and `nexo overlay get` from another find each other through it;
#   - a get of an absent key exits 1 with "no node holds <key> (asked N nodes)";
#   - a malformed key is a usage error (exit 2) naming it;
#   - overlay multicast between three nodes: two join a topic; node A (not a member)
#     publishes and each member prints "[news] TEXT (from 127.0.0.1:PORT)" once; a member
#     publishes and the other member gets it;
#   - the node's prompt: put, get, lookup, join, publish, stats, quit;
#   - `nexo overlay sim --nodes 200 --lookups 100 --seed 1` ends with the summary line,
#     success 100%, and --plot writes an SVG.
set -uo pipefail
nexo=${1:?usage: overlay_cli_test.sh PATH/TO/nexo}
scale=${NEXO_TIMEOUT_SCALE:-1}
work=$(mktemp -d)
node_pid=""
b_pid=""
c_pid=""
cleanup() {
  exec 3>&- 4>&- 5>&- 2>/dev/null
  [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null
  [[ -n $b_pid ]] && kill "$b_pid" 2>/dev/null
  [[ -n $c_pid ]] && kill "$c_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
passes=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; passes=$((passes + 1)); }

# The node reads its prompt from a FIFO this script holds open (fd 3).
mkfifo "$work/node.in"
"$nexo" overlay node --port 0 <"$work/node.in" >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
exec 3>"$work/node.in"
port=""
for _ in $(seq 1 $((200 * scale))); do
  port=$(sed -n 's/^node 127\.0\.0\.1:\([0-9]*\) id [0-9a-f]\{40\}$/\1/p' "$work/node.out")
  [[ -n $port ]] && break
  kill -0 "$node_pid" 2>/dev/null || break
  read -rt 0.05 <> <(:) || true  # 50 ms between polls
done
if [[ -z $port ]]; then
  fail "overlay node did not print 'node 127.0.0.1:PORT id HEX': $(cat "$work/node.out" "$work/node.err")"
  echo "overlay cli: $passes passed, $failures failed"
  exit 1
fi
pass "overlay node prints its address and id (port $port)"

key=$(timeout $((30 * scale)) "$nexo" overlay put "hello, overlay" --bootstrap "127.0.0.1:$port" 2>"$work/put.err"); rc=$?
if [[ $rc -eq 0 && $key =~ ^[0-9a-f]{40}$ && ! -s $work/put.err ]]; then pass "overlay put prints the key: $key"
else fail "overlay put: exit $rc, stdout '$key', stderr $(cat "$work/put.err")"; fi
# The key of an immutable item is the SHA-1 of its bencoded value: 14:hello, overlay
expected=$(printf '14:hello, overlay' | sha1sum | cut -c1-40)
[[ $key == "$expected" ]] && pass "the key is the SHA-1 of the bencoded value" || fail "key $key, expected $expected"

out=$(timeout $((30 * scale)) "$nexo" overlay get "$key" --bootstrap "127.0.0.1:$port" 2>"$work/get.err"); rc=$?
[[ $rc -eq 0 && $out == "hello, overlay" ]] && pass "overlay get from another process prints the value" \
  || fail "overlay get: exit $rc, stdout '$out', stderr $(cat "$work/get.err")"

absent=0123456789abcdef0123456789abcdef01234567
out=$(timeout $((30 * scale)) "$nexo" overlay get "$absent" --bootstrap "127.0.0.1:$port" 2>"$work/absent.err"); rc=$?
err=$(cat "$work/absent.err")
if [[ $rc -eq 1 && -z $out && $err =~ ^"nexo overlay get: no node holds $absent (asked "[0-9]+" nodes)"$ ]]; then
  pass "overlay get of an absent key exits 1: $err"
else fail "overlay get absent: exit $rc, stdout '$out', stderr '$err'"; fi

out=$(timeout $((10 * scale)) "$nexo" overlay get nothex --bootstrap "127.0.0.1:$port" 2>"$work/bad.err"); rc=$?
err=$(cat "$work/bad.err")
[[ $rc -eq 2 && -z $out && $err == *"'nothex' is not a key"* ]] && pass "a malformed key is a usage error: $err" \
  || fail "overlay get nothex: exit $rc, stderr '$err'"
out=$(timeout $((10 * scale)) "$nexo" overlay put x --bootstrap nocolon 2>"$work/bad.err"); rc=$?
[[ $rc -eq 2 && $(cat "$work/bad.err") == *"--bootstrap"* ]] && pass "a malformed --bootstrap is a usage error" \
  || fail "overlay put --bootstrap nocolon: exit $rc, stderr $(cat "$work/bad.err")"

# Overlay multicast: nodes B and C join "news"; A publishes until both print a message
# (the tree forms within a few round trips), then C publishes to B.
# wait_for FILE REGEX: polls FILE every 50 ms for a line matching REGEX, 10 s at most.
wait_for() {
  local i
  for i in $(seq 1 $((200 * scale))); do
    grep -qE "$2" "$1" && return 0
    read -rt 0.05 <> <(:) || true
  done
  return 1
}
mkfifo "$work/b.in" "$work/c.in"
"$nexo" overlay node --port 0 --bootstrap "127.0.0.1:$port" <"$work/b.in" >"$work/b.out" 2>"$work/b.err" &
b_pid=$!
exec 4>"$work/b.in"
"$nexo" overlay node --port 0 --bootstrap "127.0.0.1:$port" <"$work/c.in" >"$work/c.out" 2>"$work/c.err" &
c_pid=$!
exec 5>"$work/c.in"
if wait_for "$work/b.out" '^bootstrapped from ' && wait_for "$work/c.out" '^bootstrapped from '; then
  pass "two more nodes bootstrap from the first"
else fail "nodes B and C did not bootstrap: $(cat "$work/b.out" "$work/b.err" "$work/c.out" "$work/c.err")"; fi
c_port=$(sed -n 's/^node 127\.0\.0\.1:\([0-9]*\) id .*/\1/p' "$work/c.out")
printf 'join news\n' >&4
printf 'join news\n' >&5
wait_for "$work/b.out" '^joined news$' && wait_for "$work/c.out" '^joined news$' \
  && pass "node prompt: join news" || fail "join news: $(cat "$work/b.out" "$work/c.out")"
from_a="^\\[news\\] hello multicast [0-9]+ \\(from 127\\.0\\.0\\.1:$port\\)\$"
for i in $(seq 1 $((50 * scale))); do
  printf 'publish news hello multicast %d\n' "$i" >&3
  read -rt 0.2 <> <(:) || true
  grep -qE "$from_a" "$work/b.out" && grep -qE "$from_a" "$work/c.out" && break
done
if grep -qE "$from_a" "$work/b.out" && grep -qE "$from_a" "$work/c.out"; then
  pass "a publish from a non-member reaches both members: $(grep -m1 -E "$from_a" "$work/b.out")"
else fail "multicast from A: B: $(cat "$work/b.out"), C: $(cat "$work/c.out")"; fi
dups=$( (grep -E '^\[news\]' "$work/b.out" | sort | uniq -d; grep -E '^\[news\]' "$work/c.out" | sort | uniq -d) )
[[ -z $dups ]] && pass "each member prints each message once" || fail "printed twice: $dups"
printf 'publish news from c\n' >&5
from_c="^\\[news\\] from c \\(from 127\\.0\\.0\\.1:$c_port\\)\$"
wait_for "$work/b.out" "$from_c" && pass "a member's publish reaches the other member" \
  || fail "multicast from C: $(cat "$work/b.out")"
printf 'quit\n' >&4
printf 'quit\n' >&5
exec 4>&- 5>&-
wait "$b_pid"; rc_b=$?
wait "$c_pid"; rc_c=$?
b_pid=""
c_pid=""
[[ $rc_b -eq 0 && $rc_c -eq 0 ]] && pass "nodes B and C exit 0" || fail "B exit $rc_b, C exit $rc_c"

# The node's prompt (its answers go to node.out, after the start line).
printf 'get %s\nlookup %s\njoin news\npublish news hi\nstats\nquit\n' "$key" "$absent" >&3
exec 3>&-
timeout $((20 * scale)) tail --pid="$node_pid" -f /dev/null; rc=$?
wait "$node_pid"; rc=$?
node_pid=""
[[ $rc -eq 0 ]] && pass "overlay node exits 0 at quit" || fail "overlay node exit $rc: $(cat "$work/node.err")"
grep -qx "hello, overlay" "$work/node.out" && pass "node prompt: get" || fail "node prompt get: $(cat "$work/node.out")"
grep -qE '^[0-9]+ closest \([0-9]+ rounds, [0-9]+ datagrams\):$' "$work/node.out" && pass "node prompt: lookup" \
  || fail "node prompt lookup: $(cat "$work/node.out")"
grep -qx 'joined news' "$work/node.out" && grep -qE '^published to news \(sequence [0-9]+\)$' "$work/node.out" \
  && pass "node prompt: join and publish answer" || fail "node prompt join: $(cat "$work/node.out")"
grep -qE '^routing table [0-9]+ contacts in [0-9]+ buckets .*items stored 1,' "$work/node.out" \
  && grep -qE '^multicast: topics [0-9]+, published [0-9]+' "$work/node.out" \
  && pass "node prompt: stats" || fail "node prompt stats: $(cat "$work/node.out")"

# The simulator.
out=$(timeout $((120 * scale)) "$nexo" overlay sim --nodes 200 --lookups 100 --seed 1 --plot "$work/sim.svg" 2>"$work/sim.err"); rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [[ $rc -eq 0 && $last =~ ^"lookups 100, success 100%, hops p50 "[0-9]+" p99 "[0-9]+", datagrams per lookup "[0-9.]+$ ]]; then
  pass "overlay sim: $last"
else fail "overlay sim: exit $rc, last line '$last', stderr $(cat "$work/sim.err")"; fi
grep -q '^success of a lookup: ' <<<"$out" && pass "overlay sim states what success is" || fail "overlay sim: no definition of success"
grep -q 'data-chart="hops"' "$work/sim.svg" 2>/dev/null && pass "overlay sim --plot writes the SVG" || fail "overlay sim --plot"

# The super-peer tier on the simulator.
out=$(timeout $((120 * scale)) "$nexo" overlay superpeers --peers 60 --crash 2 --seed 3 2>"$work/super.err"); rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [[ $rc -eq 0 && $last =~ ^"peers 60, super peers "[0-9]+", attached "([0-9]+)/([0-9]+)", reached 60/60 (relayed "[0-9]+"), failover "([0-9]+)/([0-9]+)" in p50 " ]] \
   && [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" && ${BASH_REMATCH[3]} == "${BASH_REMATCH[4]}" ]]; then
  pass "overlay superpeers: $last"
else fail "overlay superpeers: exit $rc, last line '$last', stderr $(cat "$work/super.err")"; fi
out=$("$nexo" overlay superpeers --nat 2 2>&1); rc=$?
[[ $rc -ne 0 && $out == *"--nat"* ]] && pass "overlay superpeers --nat 2 is refused" || fail "overlay superpeers --nat 2: exit $rc: $out"

for cmd in "overlay put" "overlay get" "overlay node" "overlay sim" "overlay superpeers"; do
  # shellcheck disable=SC2086
  if "$nexo" $cmd --help | grep -q "Usage: nexo $cmd"; then pass "$cmd --help"; else fail "$cmd --help"; fi
done

echo "overlay cli: $passes passed, $failures failed"
[[ $failures -eq 0 ]]

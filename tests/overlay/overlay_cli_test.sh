#!/usr/bin/env bash
# nexo overlay as scripts use it (loopback only, ports chosen by the kernel):
#   - a `nexo overlay node` in the background on a free loopback port; `nexo overlay put`
#     from one process and `nexo overlay get` from another find each other through it;
#   - a get of an absent key exits 1 with "no node holds <key> (asked N nodes)";
#   - a malformed key is a usage error (exit 2) naming it;
#   - the node's prompt: put, get, lookup, join, stats, quit;
#   - `nexo overlay sim --nodes 200 --lookups 100 --seed 1` ends with the summary line,
#     success 100%, and --plot writes an SVG.
set -uo pipefail
nexo=${1:?usage: overlay_cli_test.sh PATH/TO/nexo}
scale=${NEXO_TIMEOUT_SCALE:-1}
work=$(mktemp -d)
node_pid=""
cleanup() {
  exec 3>&- 2>/dev/null
  [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null
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
[[ $(grep -c '^join/publish: overlay multicast is not in this build yet$' "$work/node.out") -eq 2 ]] \
  && pass "node prompt: join and publish say they are not there" || fail "node prompt join: $(cat "$work/node.out")"
grep -qE '^routing table [0-9]+ contacts in [0-9]+ buckets .*items stored 1,' "$work/node.out" \
  && pass "node prompt: stats" || fail "node prompt stats: $(cat "$work/node.out")"

# The simulator.
out=$(timeout $((120 * scale)) "$nexo" overlay sim --nodes 200 --lookups 100 --seed 1 --plot "$work/sim.svg" 2>"$work/sim.err"); rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [[ $rc -eq 0 && $last =~ ^"lookups 100, success 100%, hops p50 "[0-9]+" p99 "[0-9]+", datagrams per lookup "[0-9.]+$ ]]; then
  pass "overlay sim: $last"
else fail "overlay sim: exit $rc, last line '$last', stderr $(cat "$work/sim.err")"; fi
grep -q '^success of a lookup: ' <<<"$out" && pass "overlay sim states what success is" || fail "overlay sim: no definition of success"
grep -q 'data-chart="hops"' "$work/sim.svg" 2>/dev/null && pass "overlay sim --plot writes the SVG" || fail "overlay sim --plot"

for cmd in "overlay put" "overlay get" "overlay node" "overlay sim"; do
  # shellcheck disable=SC2086
  if "$nexo" $cmd --help | grep -q "Usage: nexo $cmd"; then pass "$cmd --help"; else fail "$cmd --help"; fi
done

echo "overlay cli: $passes passed, $failures failed"
[[ $failures -eq 0 ]]

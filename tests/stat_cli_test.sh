#!/usr/bin/env bash
# nexo stat: the live counters of a running `nexo recv`, as a table and in the
# Prometheus text format; the process list; files of dead processes removed;
# a bad file reported, not a crash. Loopback only; the port binds port 0;
# counter files go to a private directory (NEXO_STAT_DIR).
set -uo pipefail
nexo=${1:?usage: stat_cli_test.sh PATH/TO/nexo}
# NEXO_TIMEOUT_SCALE (set by ctest in sanitizer builds): multiplies the failure
# bounds on each command and on the polls, as in cli_test.sh.
scale=${NEXO_TIMEOUT_SCALE:-1}
[[ $scale =~ ^[1-9][0-9]*$ ]] || { echo "NEXO_TIMEOUT_SCALE='$scale' is not a positive integer"; exit 2; }
work=$(mktemp -d)
export NEXO_STAT_DIR=$work/stat
mkdir -p "$NEXO_STAT_DIR"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
pause() { read -rt 0.05 <> <(:) || true; }  # 50 ms between polls (never decides a result)

"$nexo" recv udp://127.0.0.1:0 --quiet >"$work/recv.out" 2>"$work/recv.err" &
recv=$!
pids+=($recv)
port=""
for _ in $(seq 1 $((200 * scale))); do
  port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/recv.err")
  [[ -n $port ]] && break
  pause
done
[[ -n $port ]] || { echo "FAIL: nexo recv did not report its port: $(cat "$work/recv.err")"; exit 1; }

timeout $((20 * scale)) "$nexo" send "udp://127.0.0.1:$port" hello --count 3 --quiet || fail "send exit $?"
# The datagrams arrive on their own time: read until the port has counted them.
for _ in $(seq 1 $((200 * scale))); do
  timeout $((20 * scale)) "$nexo" stat "$recv" >"$work/stat.out" 2>"$work/stat.err"
  grep -q "messages_in 3 bytes_in 15" "$work/stat.out" && break
  pause
done
grep -q "^  port #[0-9]* udp://127.0.0.1:$port$" "$work/stat.out" && pass "stat PID names the port" \
  || fail "stat output: $(cat "$work/stat.out") $(cat "$work/stat.err")"
grep -q "messages_in 3 bytes_in 15" "$work/stat.out" && pass "stat PID shows the live counts" \
  || fail "stat output: $(cat "$work/stat.out")"
grep -q "^pid $recv (nexo)" "$work/stat.out" && pass "stat PID heads with pid and program" \
  || fail "stat header: $(head -1 "$work/stat.out")"

out=$(timeout $((20 * scale)) "$nexo" stat)
[[ $out == *"$recv  nexo  "* ]] && pass "stat lists the process" || fail "stat list: $out"

timeout $((20 * scale)) "$nexo" stat "$recv" --prometheus >"$work/prom.txt" || fail "stat --prometheus exit $?"
grep -qx "nexo_port_messages_in_total{pid=\"$recv\",id=\"[0-9]*\",label=\"udp://127.0.0.1:$port\"} 3" \
  "$work/prom.txt" && pass "prometheus sample with labels" || fail "prometheus: $(cat "$work/prom.txt")"
grep -qx "# TYPE nexo_port_queue_high_water gauge" "$work/prom.txt" && pass "prometheus gauge" \
  || fail "no gauge TYPE line"
# Valid text format: every sample well formed, after its family's HELP and TYPE.
bad=$(awk '
  /^# HELP / { help[$3] = 1; next }
  /^# TYPE / { if (!help[$3] || ($4 != "counter" && $4 != "gauge")) print "bad TYPE: " $0; type[$3] = 1; next }
  {
    if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\} [0-9]+$/) { print "bad line: " $0; next }
    name = $0; sub(/\{.*/, "", name)
    if (!type[name]) print "sample before its TYPE: " $0
    samples++
  }
  END { if (samples == 0) print "no samples" }' "$work/prom.txt")
[[ -z $bad ]] && pass "prometheus output is valid text format" || fail "$bad"

# A bad file is reported with its reason; the reader does not crash.
bash -c 'exit 0' &
dead=$!
wait $dead
printf 'garbage' >"$NEXO_STAT_DIR/nexo-$dead.stat"
timeout $((20 * scale)) "$nexo" stat "$dead" >/dev/null 2>"$work/bad.err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "shorter than its 256-byte header" "$work/bad.err" \
  && pass "a short file is refused: $(cat "$work/bad.err")" || fail "bad file: exit $rc, $(cat "$work/bad.err")"
head -c 300 /dev/zero >"$NEXO_STAT_DIR/nexo-$dead.stat"
timeout $((20 * scale)) "$nexo" stat "$dead" >/dev/null 2>"$work/bad.err"; rc=$?
[[ $rc -eq 1 ]] && grep -q "not a nexo counter file" "$work/bad.err" \
  && pass "a file of zeros is refused" || fail "zero file: exit $rc, $(cat "$work/bad.err")"
# Listing removes the files of dead processes.
timeout $((20 * scale)) "$nexo" stat >/dev/null 2>"$work/list.err"
[[ ! -e $NEXO_STAT_DIR/nexo-$dead.stat ]] && grep -q "pid $dead is gone" "$work/list.err" \
  && pass "a dead process's file is removed" || fail "dead file kept: $(cat "$work/list.err")"

# --watch redraws the report --count times, each from the top of the screen.
timeout $((20 * scale)) "$nexo" stat "$recv" --watch --interval 0.05 --count 3 >"$work/watch.out"; rc=$?
frames=$(grep -o $'\033\[H\033\[2J' "$work/watch.out" | wc -l)
counts=$(grep -c "messages_in 3 bytes_in 15" "$work/watch.out")
[[ $rc -eq 0 && $frames -eq 3 && $counts -eq 3 ]] && pass "stat --watch --count 3 draws 3 reports" \
  || fail "stat --watch: exit $rc, $frames frames, $counts reports: $(cat -v "$work/watch.out")"
timeout $((20 * scale)) "$nexo" stat "$dead" --watch --interval 0.05 --count 5 >/dev/null 2>&1; rc=$?
[[ $rc -eq 1 ]] && pass "stat --watch of a gone process exits 1" || fail "stat --watch of a gone pid: exit $rc"

kill "$recv" 2>/dev/null  # (a background job ignores SIGINT)
wait "$recv" 2>/dev/null
echo "$failures failure(s)"
[[ $failures -eq 0 ]]

#!/usr/bin/env bash
# The nexo command line as scripts use it: the documented output lines
# ("Reply: ", "Received: ", "Received:"), --count, exit codes, and one clear
# line on stderr for every error. Loopback only; servers bind port 0.
set -uo pipefail
nexo=${1:?usage: cli_test.sh PATH/TO/nexo}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
failures=0
passes=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; passes=$((passes + 1)); }

# expect_error "description" EXIT_CODE "stderr substring" -- nexo args...
expect_error() {
  local what=$1 code=$2 needle=$3
  shift 4
  local out err rc
  out=$(timeout 20 "$nexo" "$@" 2>"$work/err"); rc=$?
  err=$(cat "$work/err")
  if [[ $rc -ne $code ]]; then fail "$what: exit $rc, expected $code (stderr: $err)"; return; fi
  if [[ -n $out ]]; then fail "$what: printed to stdout: $out"; return; fi
  if [[ $(printf '%s\n' "$err" | wc -l) -ne 1 ]]; then fail "$what: stderr is not one line: $err"; return; fi
  if [[ $err != *"$needle"* ]]; then fail "$what: stderr '$err' lacks '$needle'"; return; fi
  pass "$what → $err"
}

# start_server NAME nexo-args...: runs a server on port 0, sets $port from its stderr.
start_server() {
  local name=$1
  shift
  "$nexo" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  server_pid=$!
  port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/$name.err")
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    read -rt 0.05 <> <(:) || true  # a 50 ms pause between polls of the server's stderr
  done
  fail "$name did not report its port: $(cat "$work/$name.err")"
  return 1
}

# --- the chapter's programs ------------------------------------------------
if start_server udp udp serve --port 0 --bind 127.0.0.1 --count 2; then
  out=$(timeout 20 "$nexo" udp send "Hello, UDP" 127.0.0.1 --port "$port")
  [[ $out == "Reply: Hello, UDP" ]] && pass "udp send prints Reply:" || fail "udp send printed '$out'"
  out=$(timeout 20 "$nexo" udp send "Asunción" localhost --port "$port")
  [[ $out == "Reply: Asunción" ]] && pass "udp send to localhost" || fail "udp send printed '$out'"
  wait "$server_pid" && pass "udp serve --count 2 exits 0 after two requests" || fail "udp serve exit $?"
  grep -q "^Request: Hello, UDP (from 127.0.0.1:" "$work/udp.out" && pass "udp serve logs requests" \
    || fail "udp serve output: $(cat "$work/udp.out")"
fi

if start_server tcp tcp serve --port 0 --count 2; then
  out=$(timeout 20 "$nexo" tcp send "Asunción" ::1 --port "$port")
  [[ $out == "Received: Asunción" ]] && pass "tcp send over IPv6 prints Received:" || fail "tcp send printed '$out'"
  out=$(timeout 20 "$nexo" tcp send "naïve 😀" 127.0.0.1 --port "$port")
  [[ $out == "Received: naïve 😀" ]] && pass "tcp send over IPv4" || fail "tcp send printed '$out'"
  wait "$server_pid" && pass "tcp serve --count 2 exits 0" || fail "tcp serve exit $?"
fi

mcast_port=$((20000 + RANDOM % 40000))
out=$(timeout 20 "$nexo" mcast peer "hello group" 239.255.42.99 --port "$mcast_port" --count 1 --interface lo --timeout 5000)
[[ $out == "Received:hello group" ]] && pass "mcast peer on lo receives its own datagram" \
  || fail "mcast peer printed '$out'"

out=$(timeout 20 "$nexo" resolve localhost)
[[ $out == *127.0.0.1* ]] && pass "resolve localhost" || fail "resolve printed '$out'"

# --- message passing: nexo recv / send / ping --------------------------------
if start_server recv recv tcp://127.0.0.1:0 --count 3 --stats; then
  uri="tcp://127.0.0.1:$port"
  out=$(timeout 20 "$nexo" send "$uri" "plain send")
  [[ $out == "Sent: plain send" ]] && pass "send prints Sent:" || fail "send printed '$out'"
  out=$(timeout 20 "$nexo" send "$uri" "synchronous" --sync)
  [[ $out == "Taken: synchronous" ]] && pass "send --sync prints Taken:" || fail "send --sync printed '$out'"
  out=$(timeout 20 "$nexo" ping "$uri" --count 1)
  [[ $out == *"latency us: min"*"p50"*"p99"* ]] && pass "ping prints percentiles" || fail "ping printed '$out'"
  wait "$server_pid" && pass "recv --count 3 exits 0" || fail "recv exit $?"
  [[ $(grep -c '^Received: ' "$work/recv.out") -eq 3 ]] && pass "recv prints Received: lines" \
    || fail "recv output: $(cat "$work/recv.out")"
  grep -q "stats tcp://127.0.0.1:$port: in 3 msgs" "$work/recv.err" && pass "recv --stats" \
    || fail "recv stats: $(cat "$work/recv.err")"
fi
if start_server echo recv tcp://127.0.0.1:0 --count 6 --echo --stats; then
  uri="tcp://127.0.0.1:$port"
  out=$(timeout 20 "$nexo" send "$uri" "¿qué tal?" --reply)
  [[ $out == $'Sent: ¿qué tal?\nReply: ¿qué tal?' ]] && pass "send --reply prints the echo" \
    || fail "send --reply printed '$out'"
  out=$(timeout 20 "$nexo" ping "$uri" --reply --count 5 2>&1)
  [[ $out == *"5 requests and replies"*"latency us: min"* ]] && pass "ping --reply" \
    || fail "ping --reply printed '$out'; the server said: $(cat "$work/echo.err" "$work/echo.out")"
  wait "$server_pid" && pass "recv --echo exits 0" || fail "recv --echo exit $?"
fi
expect_error "reply over udp" 1 "carries no replies" -- send udp://127.0.0.1:9 hi --reply --timeout 100
expect_error "sync over udp" 1 "no synchronous send" -- send udp://127.0.0.1:9 hi --sync
expect_error "bad uri" 1 "uri 'http://x:1': unknown scheme" -- recv http://x:1

# --- errors: one line on stderr, non-zero exit -----------------------------
start_server probe udp serve --port 0 --bind 127.0.0.1 --count 1
closed_port=$port
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
expect_error "udp send to a closed port" 1 "port unreachable" -- udp send hi 127.0.0.1 --port "$closed_port"
expect_error "send to nobody" 1 "Connection refused" -- send tcp://127.0.0.1:"$closed_port" hi
expect_error "tcp send refused" 1 "Connection refused" -- tcp send hi 127.0.0.1 --port "$closed_port"
expect_error "unknown host" 1 "resolve 'no-such-host.invalid'" -- tcp send hi no-such-host.invalid
expect_error "port out of range" 1 "port 70000 is outside 0..65535" -- udp send hi 127.0.0.1 --port 70000
expect_error "port not a number" 1 "port 'http' is not a number" -- tcp serve --port http
expect_error "negative timeout" 1 "--timeout -5" -- udp send hi 127.0.0.1 --timeout -5
expect_error "multicast port 0" 1 "--port 0" -- mcast peer hi 239.1.2.3 --port 0
expect_error "not a multicast group" 1 "not a multicast group address" -- mcast peer hi 10.1.2.3
expect_error "unknown interface" 1 "no network interface named 'nosuch0'" -- mcast peer hi 239.1.2.3 --interface nosuch0
expect_error "message too long for writeUTF" 1 "more than the 65535 allowed" -- tcp send "$(head -c 70000 /dev/zero | tr '\0' a)" 127.0.0.1
expect_error "bind to a foreign address" 1 "tcp bind 192.0.2.1:0" -- tcp serve --port 0 --bind 192.0.2.1
expect_error "missing argument" 2 "nexo udp send: HOST is required" -- udp send hi
expect_error "missing subcommand" 2 "one of: serve send" -- tcp
expect_error "unknown option" 2 "nexo udp serve:" -- udp serve --colour
expect_error "negative count" 2 "'-1' is not a count" -- tcp serve --count -1
if start_server busy tcp serve --port 0 --bind 127.0.0.1; then
  expect_error "address in use" 1 "Address already in use" -- tcp serve --port "$port" --bind 127.0.0.1
  kill "$server_pid"
fi
if start_server silent_tcp udp serve --port 0 --bind 127.0.0.1 --count 1; then
  kill -STOP "$server_pid"  # a server that stops answering
  expect_error "udp reply timeout" 1 "no reply from 127.0.0.1:$port within 200 ms" -- udp send hi 127.0.0.1 --port "$port" --timeout 200
  kill -CONT "$server_pid"
fi

# --- nexo fault-proxy ------------------------------------------------------
# wait_for_line FILE TEXT: until FILE holds TEXT (5 s at most).
wait_for_line() {
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" && return 0
    read -rt 0.05 <> <(:) || true
  done
  return 1
}
if start_server fp_target udp serve --port 0 --bind 127.0.0.1 --count 3; then
  target=$port target_pid=$server_pid
  if start_server fp fault-proxy --listen 0 --to "127.0.0.1:$target" --seed 3; then
    fp_pid=$server_pid
    out=$(timeout 20 "$nexo" udp send "through the proxy" 127.0.0.1 --port "$port")
    [[ $out == "Reply: through the proxy" ]] && pass "udp send through fault-proxy" \
      || fail "udp send through fault-proxy printed '$out'"
    kill -USR1 "$fp_pid"  # a partition: nothing gets through
    wait_for_line "$work/fp.err" "partition on" && pass "SIGUSR1 toggles a partition" \
      || fail "fault-proxy stderr: $(cat "$work/fp.err")"
    expect_error "fault-proxy partition" 1 "no reply" -- udp send cut 127.0.0.1 --port "$port" --timeout 300
    kill -USR1 "$fp_pid"  # healed
    wait_for_line "$work/fp.err" "partition off" || fail "no 'partition off': $(cat "$work/fp.err")"
    out=$(timeout 20 "$nexo" udp send "healed" 127.0.0.1 --port "$port")
    [[ $out == "Reply: healed" ]] && pass "fault-proxy partition heals" || fail "after healing: '$out'"
    kill -INT "$fp_pid"
    wait "$fp_pid" && pass "fault-proxy exits 0 on SIGINT" || fail "fault-proxy exit $?"
    grep -q "^fault-proxy to (client -> server): received 3, delivered 2, lost 0, partitioned 1" "$work/fp.out" \
      && grep -q "^fault-proxy back (server -> client): received 2, delivered 2" "$work/fp.out" \
      && pass "fault-proxy prints its counters on exit" || fail "fault-proxy counters: $(cat "$work/fp.out")"
  fi
  if start_server fp_lossy fault-proxy --listen 0 --to "127.0.0.1:$target" --loss 1 --direction to --duration 20s; then
    expect_error "fault-proxy --loss 1" 1 "no reply" -- udp send lost 127.0.0.1 --port "$port" --timeout 200
    kill -TERM "$server_pid"
    wait "$server_pid"
    grep -q "^fault-proxy to (client -> server): received 1, delivered 0, lost 1" "$work/fp_lossy.out" \
      && pass "fault-proxy --loss 1 loses and counts" || fail "lossy counters: $(cat "$work/fp_lossy.out")"
  fi
  out=$(timeout 20 "$nexo" udp send "last" 127.0.0.1 --port "$target")  # the target's third request
  wait "$target_pid" && pass "the proxied server got exactly what the proxy delivered" \
    || fail "udp serve behind the proxy: exit $?"
fi
if start_server fp_timed fault-proxy --listen 0 --to 127.0.0.1:9 --duration 100ms; then
  wait "$server_pid" && pass "fault-proxy --duration stops by itself" || fail "fault-proxy --duration exit $?"
fi
expect_error "fault-proxy bad --to" 1 "expected HOST:PORT" -- fault-proxy --listen 0 --to nowhere
expect_error "fault-proxy bad --delay" 1 "--delay '5xs': not a duration" -- fault-proxy --listen 0 --to 127.0.0.1:9 --delay 5xs
expect_error "fault-proxy --loss 2" 2 "--loss" -- fault-proxy --listen 0 --to 127.0.0.1:9 --loss 2

# --- marshal / unmarshal -----------------------------------------------------
# Every format, every example: the raw bytes read back to the same value, and the
# hex output reads back too; the annotated dump names what the bytes are.
formats=$("$nexo" marshal --help | sed -n 's/.*--format TEXT:{\(.*\)}.*/\1/p' | tr ',' ' ')
[[ -n $formats ]] && pass "marshal --help lists the formats: $formats" || fail "marshal --help lists no formats"
for format in $formats; do
  for example in person large everything ref; do
    if ! "$nexo" marshal --format "$format" --example "$example" --output raw >"$work/m.bin" 2>"$work/m.err"; then
      # a format may refuse a type it cannot carry (Java has no maps), with one clear line
      [[ $(wc -l <"$work/m.err") -eq 1 ]] && pass "marshal $format $example refused: $(cat "$work/m.err")" \
        || fail "marshal $format $example: $(cat "$work/m.err")"
      continue
    fi
    "$nexo" unmarshal --format "$format" --example "$example" "$work/m.bin" >"$work/u.txt" 2>"$work/u.err" \
      && "$nexo" marshal --format cdr --example "$example" --output hex >"$work/ref.hex" \
      && "$nexo" unmarshal --format cdr --example "$example" --hex "$work/ref.hex" >"$work/ref.txt" \
      && cmp -s "$work/u.txt" "$work/ref.txt" \
      && pass "marshal | unmarshal $format $example" \
      || fail "unmarshal $format $example: $(cat "$work/u.err") $(diff "$work/u.txt" "$work/ref.txt" | head -5)"
  done
done
out=$("$nexo" marshal --format cdr-be --example person)
[[ $out == *"header  encapsulation: CDR big-endian"* && $out == *"padding"* && $out == *"name length (with NUL)"* && $out == *"year = 1984"* ]] \
  && pass "marshal prints an annotated dump" || fail "marshal dump: $out"
printf '\x00\x01\x00\x00\xff\xff\xff\xff' >"$work/hostile.bin"
expect_error "unmarshal a hostile length" 1 "cdr: at byte 4: name length 4294967295 exceeds limit max_string" \
  -- unmarshal --format cdr --example person "$work/hostile.bin"
expect_error "unmarshal a missing file" 1 "cannot open" -- unmarshal --format cdr "$work/nope"
expect_error "unmarshal bad hex" 1 "not hex" -- unmarshal --format cdr --hex <(echo "zz")
expect_error "marshal unknown format" 2 "--format" -- marshal --format yaml

# --- help ------------------------------------------------------------------
for cmd in "udp serve" "udp send" "tcp serve" "tcp send" "mcast peer" "resolve" "tour" "fault-proxy" "marshal" "unmarshal"; do
  # shellcheck disable=SC2086
  if "$nexo" $cmd --help | grep -q "Usage: nexo $cmd"; then pass "$cmd --help"; else fail "$cmd --help"; fi
done

echo "cli: $passes passed, $failures failed"
[[ $failures -eq 0 ]]

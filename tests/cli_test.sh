#!/usr/bin/env bash
# The nexo command line as scripts use it: the documented output lines
# ("Reply: ", "Received: ", "Received:"), --count, exit codes, and one clear
# line on stderr for every error. Loopback only; servers bind port 0.
set -uo pipefail
nexo=${1:?usage: cli_test.sh PATH/TO/nexo}
# NEXO_TIMEOUT_SCALE (ctest sets it in sanitizer builds, where every process is
# several times slower): multiplies the bounds on each command and on waits for
# a server. They are failure bounds only: nothing passes by waiting them out.
scale=${NEXO_TIMEOUT_SCALE:-1}
[[ $scale =~ ^[1-9][0-9]*$ ]] || { echo "NEXO_TIMEOUT_SCALE='$scale' is not a positive integer"; exit 2; }
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
  out=$(timeout $((20 * scale)) "$nexo" "$@" 2>"$work/err"); rc=$?
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
  for _ in $(seq 1 $((200 * scale))); do
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
  out=$(timeout $((20 * scale)) "$nexo" udp send "Hello, UDP" 127.0.0.1 --port "$port")
  [[ $out == "Reply: Hello, UDP" ]] && pass "udp send prints Reply:" || fail "udp send printed '$out'"
  out=$(timeout $((20 * scale)) "$nexo" udp send "Asunción" localhost --port "$port")
  [[ $out == "Reply: Asunción" ]] && pass "udp send to localhost" || fail "udp send printed '$out'"
  wait "$server_pid" && pass "udp serve --count 2 exits 0 after two requests" || fail "udp serve exit $?"
  grep -q "^Request: Hello, UDP (from 127.0.0.1:" "$work/udp.out" && pass "udp serve logs requests" \
    || fail "udp serve output: $(cat "$work/udp.out")"
fi

if start_server tcp tcp serve --port 0 --count 2; then
  out=$(timeout $((20 * scale)) "$nexo" tcp send "Asunción" ::1 --port "$port")
  [[ $out == "Received: Asunción" ]] && pass "tcp send over IPv6 prints Received:" || fail "tcp send printed '$out'"
  out=$(timeout $((20 * scale)) "$nexo" tcp send "naïve 😀" 127.0.0.1 --port "$port")
  [[ $out == "Received: naïve 😀" ]] && pass "tcp send over IPv4" || fail "tcp send printed '$out'"
  wait "$server_pid" && pass "tcp serve --count 2 exits 0" || fail "tcp serve exit $?"
fi

mcast_port=$((20000 + RANDOM % 40000))
out=$(timeout $((20 * scale)) "$nexo" mcast peer "hello group" 239.255.42.99 --port "$mcast_port" --count 1 --interface lo --timeout 5000)
[[ $out == "Received:hello group" ]] && pass "mcast peer on lo receives its own datagram" \
  || fail "mcast peer printed '$out'"

out=$(timeout $((20 * scale)) "$nexo" resolve localhost)
[[ $out == *127.0.0.1* ]] && pass "resolve localhost" || fail "resolve printed '$out'"

# --- message passing: nexo recv / send / ping --------------------------------
if start_server recv recv tcp://127.0.0.1:0 --count 3 --stats; then
  uri="tcp://127.0.0.1:$port"
  out=$(timeout $((20 * scale)) "$nexo" send "$uri" "plain send")
  [[ $out == "Sent: plain send" ]] && pass "send prints Sent:" || fail "send printed '$out'"
  out=$(timeout $((20 * scale)) "$nexo" send "$uri" "synchronous" --sync)
  [[ $out == "Taken: synchronous" ]] && pass "send --sync prints Taken:" || fail "send --sync printed '$out'"
  out=$(timeout $((20 * scale)) "$nexo" ping "$uri" --count 1)
  [[ $out == *"latency us: min"*"p50"*"p99"* ]] && pass "ping prints percentiles" || fail "ping printed '$out'"
  wait "$server_pid" && pass "recv --count 3 exits 0" || fail "recv exit $?"
  [[ $(grep -c '^Received: ' "$work/recv.out") -eq 3 ]] && pass "recv prints Received: lines" \
    || fail "recv output: $(cat "$work/recv.out")"
  grep -q "stats tcp://127.0.0.1:$port: in 3 msgs" "$work/recv.err" && pass "recv --stats" \
    || fail "recv stats: $(cat "$work/recv.err")"
fi
if start_server echo recv tcp://127.0.0.1:0 --count 6 --echo --stats; then
  uri="tcp://127.0.0.1:$port"
  out=$(timeout $((20 * scale)) "$nexo" send "$uri" "¿qué tal?" --reply)
  [[ $out == $'Sent: ¿qué tal?\nReply: ¿qué tal?' ]] && pass "send --reply prints the echo" \
    || fail "send --reply printed '$out'"
  out=$(timeout $((20 * scale)) "$nexo" ping "$uri" --reply --count 5 2>&1)
  [[ $out == *"5 requests and replies"*"latency us: min"* ]] && pass "ping --reply" \
    || fail "ping --reply printed '$out'; the server said: $(cat "$work/echo.err" "$work/echo.out")"
  wait "$server_pid" && pass "recv --echo exits 0" || fail "recv --echo exit $?"
fi
expect_error "reply over udp" 1 "carries no replies" -- send udp://127.0.0.1:9 hi --reply --timeout 100
expect_error "sync over udp" 1 "no synchronous send" -- send udp://127.0.0.1:9 hi --sync
expect_error "bad uri" 2 "uri 'http://x:1': unknown scheme" -- recv http://x:1

# --- errors: one line on stderr, non-zero exit -----------------------------
# A port nobody listens on, without probing one and hoping it stays free:
# servers hold 127.0.0.1:PORT (one udp, one tcp) for as long as the sends run,
# and the sends go to 127.0.0.2:PORT, where nobody binds (an ephemeral bind
# elsewhere cannot take PORT while 127.0.0.1:PORT is held).
if start_server held_udp udp serve --port 0 --bind 127.0.0.1; then
  held_udp_pid=$server_pid
  expect_error "udp send to a closed port" 1 "port unreachable" -- udp send hi 127.0.0.2 --port "$port"
  kill "$held_udp_pid" 2>/dev/null
fi
if start_server held_tcp tcp serve --port 0 --bind 127.0.0.1; then
  held_tcp_pid=$server_pid
  expect_error "send to nobody" 1 "Connection refused" -- send tcp://127.0.0.2:"$port" hi
  expect_error "tcp send refused" 1 "Connection refused" -- tcp send hi 127.0.0.2 --port "$port"
  kill "$held_tcp_pid" 2>/dev/null
fi
expect_error "unknown host" 1 "resolve 'no-such-host.invalid'" -- tcp send hi no-such-host.invalid
expect_error "port out of range" 2 "--port: port 70000 is outside 0..65535" -- udp send hi 127.0.0.1 --port 70000
expect_error "port not a number" 2 "port 'http' is not a number" -- tcp serve --port http
expect_error "negative timeout" 2 "--timeout: '-5' is not a timeout" -- udp send hi 127.0.0.1 --timeout -5
expect_error "multicast port 0" 2 "--port: port 0" -- mcast peer hi 239.1.2.3 --port 0
expect_error "not a multicast group" 1 "not a multicast group address" -- mcast peer hi 10.1.2.3
expect_error "unknown interface" 1 "no network interface named 'nosuch0'" -- mcast peer hi 239.1.2.3 --interface nosuch0
expect_error "message too long for writeUTF" 1 "more than the 65535 allowed" -- tcp send "$(head -c 70000 /dev/zero | tr '\0' a)" 127.0.0.1
expect_error "bind to a foreign address" 1 "tcp bind 192.0.2.1:0" -- tcp serve --port 0 --bind 192.0.2.1
expect_error "missing argument" 2 "nexo udp send: HOST is required" -- udp send hi
expect_error "missing subcommand" 2 "one of: serve send" -- tcp
expect_error "unknown option" 2 "nexo udp serve:" -- udp serve --colour
expect_error "negative count" 2 "'-1' is not a count" -- tcp serve --count -1
expect_error "group: not a multicast group" 1 "not a multicast group address" -- group join g --address 10.1.2.3
expect_error "group: unknown interface" 1 "no network interface named 'nosuch0'" -- group join g --interface nosuch0
expect_error "group: bad member" 1 "--members 'nohost'" -- group join g --members nohost
expect_error "group: unknown order" 2 "--order" -- group join g --order random
expect_error "mpi demo: no ranks" 2 "--ranks" -- mpi demo -n 0
expect_error "mpi: no subcommand" 2 "mpi" -- mpi
expect_error "group: loss out of range" 2 "--loss" -- group join g --loss 1.5
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
  for _ in $(seq 1 $((100 * scale))); do
    grep -q "$2" "$1" && return 0
    read -rt 0.05 <> <(:) || true
  done
  return 1
}
if start_server fp_target udp serve --port 0 --bind 127.0.0.1 --count 3; then
  target=$port target_pid=$server_pid
  if start_server fp fault-proxy --listen 0 --to "127.0.0.1:$target" --seed 3; then
    fp_pid=$server_pid
    out=$(timeout $((20 * scale)) "$nexo" udp send "through the proxy" 127.0.0.1 --port "$port")
    [[ $out == "Reply: through the proxy" ]] && pass "udp send through fault-proxy" \
      || fail "udp send through fault-proxy printed '$out'"
    kill -USR1 "$fp_pid"  # a partition: nothing gets through
    wait_for_line "$work/fp.err" "partition on" && pass "SIGUSR1 toggles a partition" \
      || fail "fault-proxy stderr: $(cat "$work/fp.err")"
    expect_error "fault-proxy partition" 1 "no reply" -- udp send cut 127.0.0.1 --port "$port" --timeout 300
    kill -USR1 "$fp_pid"  # healed
    wait_for_line "$work/fp.err" "partition off" || fail "no 'partition off': $(cat "$work/fp.err")"
    out=$(timeout $((20 * scale)) "$nexo" udp send "healed" 127.0.0.1 --port "$port")
    [[ $out == "Reply: healed" ]] && pass "fault-proxy partition heals" || fail "after healing: '$out'"
    kill -INT "$fp_pid"
    wait "$fp_pid" && pass "fault-proxy exits 0 on SIGINT" || fail "fault-proxy exit $?"
    grep -q "^fault-proxy to (client -> server): received 3, delivered 2, lost 0, partitioned 1" "$work/fp.out" \
      && grep -q "^fault-proxy back (server -> client): received 2, delivered 2" "$work/fp.out" \
      && grep -q "^fault-proxy sessions 3, evicted 0, expired 0, send errors 0$" "$work/fp.out" \
      && pass "fault-proxy prints its counters on exit" || fail "fault-proxy counters: $(cat "$work/fp.out")"
  fi
  if start_server fp_lossy fault-proxy --listen 0 --to "127.0.0.1:$target" --loss 1 --direction to --duration 20s; then
    expect_error "fault-proxy --loss 1" 1 "no reply" -- udp send lost 127.0.0.1 --port "$port" --timeout 200
    kill -TERM "$server_pid"
    wait "$server_pid"
    grep -q "^fault-proxy to (client -> server): received 1, delivered 0, lost 1" "$work/fp_lossy.out" \
      && pass "fault-proxy --loss 1 loses and counts" || fail "lossy counters: $(cat "$work/fp_lossy.out")"
  fi
  out=$(timeout $((20 * scale)) "$nexo" udp send "last" 127.0.0.1 --port "$target")  # the target's third request
  [[ $out == "Reply: last" ]] || fail "udp send to the proxied server printed '$out'"
  wait "$target_pid" && pass "the proxied server got exactly what the proxy delivered" \
    || fail "udp serve behind the proxy: exit $?"
fi
# A full session table: the second client takes the first one's place, and is answered.
if start_server fp_small_target udp serve --port 0 --bind 127.0.0.1 --count 2; then
  target=$port target_pid=$server_pid
  if start_server fp_small fault-proxy --listen 0 --to "127.0.0.1:$target" --max-sessions 1 --max-held 64k --delay 1ms; then
    fp_pid=$server_pid
    out1=$(timeout $((20 * scale)) "$nexo" udp send "first client" 127.0.0.1 --port "$port")
    out2=$(timeout $((20 * scale)) "$nexo" udp send "second client" 127.0.0.1 --port "$port")
    [[ $out1 == "Reply: first client" && $out2 == "Reply: second client" ]] \
      && pass "fault-proxy --max-sessions 1 answers a second client" \
      || fail "through --max-sessions 1: '$out1', '$out2'"
    kill -INT "$fp_pid"
    wait "$fp_pid" || fail "fault-proxy --max-sessions 1 exit $?"
    grep -q "^fault-proxy sessions 2, evicted 1, expired 0, send errors 0$" "$work/fp_small.out" \
      && grep -q "^fault-proxy to (client -> server): received 2, delivered 2, .* overflow 0, discarded 0$" "$work/fp_small.out" \
      && pass "fault-proxy counts the eviction" || fail "--max-sessions 1 counters: $(cat "$work/fp_small.out")"
  fi
  wait "$target_pid" || fail "udp serve behind --max-sessions 1: exit $?"
fi
if start_server fp_timed fault-proxy --listen 0 --to 127.0.0.1:9 --duration 100ms; then
  wait "$server_pid" && pass "fault-proxy --duration stops by itself" || fail "fault-proxy --duration exit $?"
fi
expect_error "fault-proxy bad --to" 2 "expected HOST:PORT" -- fault-proxy --listen 0 --to nowhere
expect_error "fault-proxy bad --delay" 2 "--delay: '5xs' is not a duration" -- fault-proxy --listen 0 --to 127.0.0.1:9 --delay 5xs
expect_error "fault-proxy --loss 2" 2 "--loss" -- fault-proxy --listen 0 --to 127.0.0.1:9 --loss 2
expect_error "fault-proxy --max-held too small" 2 "--max-held: '1k' is less than 65536..1099511627776 bytes" -- fault-proxy --listen 0 --to 127.0.0.1:9 --max-held 1k
expect_error "fault-proxy --max-held not a size" 2 "--max-held: 'lots' is not a size" -- fault-proxy --listen 0 --to 127.0.0.1:9 --max-held lots

# --- marshal / unmarshal -----------------------------------------------------
# Every format, every example: the raw bytes read back to the same value, and the
# hex output reads back too; the annotated dump names what the bytes are.
formats=$("$nexo" marshal --help | sed -n 's/.*--format TEXT:{\(.*\)}.*/\1/p' | tr ',' ' ')
[[ -n $formats ]] && pass "marshal --help lists the formats: $formats" || fail "marshal --help lists no formats"
# Java serialization has no maps and no optional primitives: `everything` has both.
# Bencode has no floating point: `large` and `everything` have doubles.
declare -A expected_refusals=(
  ["java everything"]="java: type 'everything' has a field Java serialization does not carry"
  ["bencode large"]="bencode: type 'large' has a field bencode does not carry"
  ["bencode everything"]="bencode: type 'everything' has a field bencode does not carry"
)
for format in $formats; do
  for example in person large everything ref; do
    if ! "$nexo" marshal --format "$format" --example "$example" --output raw >"$work/m.bin" 2>"$work/m.err"; then
      # the refusals accepted, one by one: a format that cannot carry the type
      refusal=${expected_refusals["$format $example"]:-}
      if [[ -n $refusal && $(wc -l <"$work/m.err") -eq 1 && $(cat "$work/m.err") == *"$refusal"* ]]; then
        pass "marshal $format $example refused: $(cat "$work/m.err")"
        unset 'expected_refusals["$format $example"]'
      else
        fail "marshal $format $example: $(cat "$work/m.err")"
      fi
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
for left in "${!expected_refusals[@]}"; do fail "marshal $left was expected to be refused, and was not"; done
out=$("$nexo" marshal --format cdr-be --example person)
[[ $out == *"header  encapsulation: CDR big-endian"* && $out == *"padding"* && $out == *"name length (with NUL)"* && $out == *"year = 1984"* ]] \
  && pass "marshal prints an annotated dump" || fail "marshal dump: $out"
printf '\x00\x01\x00\x00\xff\xff\xff\xff' >"$work/hostile.bin"
expect_error "unmarshal a hostile length" 1 "cdr: at byte 4: name length 4294967295 exceeds limit max_string" \
  -- unmarshal --format cdr --example person "$work/hostile.bin"
expect_error "unmarshal a missing file" 1 "cannot open" -- unmarshal --format cdr "$work/nope"
expect_error "unmarshal bad hex" 1 "not hex" -- unmarshal --format cdr --hex <(echo "zz")
expect_error "marshal unknown format" 2 "--format" -- marshal --format yaml

# --- a peer's bytes on a terminal ---------------------------------------------
# A peer sends a newline, a forged line and an ESC sequence: every place that
# prints it shows them escaped, on the one line they belong to.
forged=$'hi\nRequest: forged (from 1.2.3.4:5)\e[2J\r\xff\xc2\x9b'
escaped='hi\nRequest: forged (from 1.2.3.4:5)\x1b[2J\r\xff\u{009b}'
if start_server hostile udp serve --port 0 --bind 127.0.0.1 --count 1; then
  out=$(timeout $((20 * scale)) "$nexo" udp send "$forged" 127.0.0.1 --port "$port")
  [[ $out == "Reply: $escaped" ]] && pass "udp send escapes the reply" || fail "udp send printed '$out'"
  wait "$server_pid"
  [[ $(wc -l <"$work/hostile.out") -eq 1 && $(cat "$work/hostile.out") == "Request: $escaped (from 127.0.0.1:"* ]] \
    && pass "udp serve escapes the request: no forged line" || fail "udp serve printed: $(cat "$work/hostile.out")"
fi
if start_server hostile_tcp tcp serve --port 0 --bind 127.0.0.1 --count 1; then
  # writeUTF carries only UTF-8: the same without the stray byte
  out=$(timeout $((20 * scale)) "$nexo" tcp send "${forged/$'\xff'/}" 127.0.0.1 --port "$port")
  [[ $out == "Received: ${escaped/\\xff/}" ]] && pass "tcp send escapes the reply" || fail "tcp send printed '$out'"
  wait "$server_pid"
  [[ $(wc -l <"$work/hostile_tcp.out") -eq 1 ]] && pass "tcp serve escapes the request" \
    || fail "tcp serve printed: $(cat "$work/hostile_tcp.out")"
fi
if start_server hostile_recv recv tcp://127.0.0.1:0 --count 1 --echo; then
  out=$(timeout $((20 * scale)) "$nexo" send "tcp://127.0.0.1:$port" "$forged" --reply)
  [[ $out == "Sent: $escaped"$'\n'"Reply: $escaped" ]] && pass "send --reply escapes what it prints" \
    || fail "send --reply printed '$out'"
  wait "$server_pid"
  [[ $(cat "$work/hostile_recv.out") == "Received: $escaped" ]] && pass "recv escapes the message" \
    || fail "recv printed: $(cat "$work/hostile_recv.out")"
fi
expect_error "an error quoting input stays on one line" 1 "resolve 'a\\nb'" -- send $'tcp://a\nb:1' hi

# --- one set of option checks for every subcommand -----------------------------
expect_error "ping --count 0 (was SIGSEGV)" 2 "--count: '0' is not a count here: at least 1" -- ping tcp://127.0.0.1:9 --count 0
expect_error "recv --count 0 (did nothing)" 2 "--count: '0' is not a count here" -- recv tcp://127.0.0.1:0 --count 0
expect_error "send --count 0" 2 "--count: '0'" -- send tcp://127.0.0.1:9 hi --count 0
expect_error "a count past 2^64 (was clamped)" 2 "--count: '18446744073709551616' is more than 2^64-1" -- send tcp://127.0.0.1:9 hi --count 18446744073709551616
expect_error "serve --count past 2^64" 2 "is more than 2^64-1" -- udp serve --count 99999999999999999999
expect_error "timeout 10^13 ms (overflowed into an immediate timeout)" 2 "--timeout: '10000000000000' is too long a timeout" -- udp send hi 127.0.0.1 --timeout 10000000000000
for cmd in "udp send hi 127.0.0.1" "tcp send hi 127.0.0.1" "send tcp://127.0.0.1:9 hi" "recv tcp://127.0.0.1:0" "ping tcp://127.0.0.1:9" "mcast peer hi 239.1.2.3"; do
  # shellcheck disable=SC2086
  expect_error "$cmd --timeout -1: the same rule everywhere" 2 "--timeout: '-1' is not a timeout" -- $cmd --timeout -1
done
expect_error "fault-proxy --to HOST:0" 2 "--to: '127.0.0.1:0': port 0 is not somewhere to send to" -- fault-proxy --listen 0 --to 127.0.0.1:0
expect_error "fault-proxy --to an unbracketed IPv6" 2 "in brackets" -- fault-proxy --listen 0 --to ::1:53
expect_error "send to port 0" 2 "port 0 is not somewhere to send to" -- send udp://127.0.0.1:0 hi
expect_error "ping --size beyond a message" 2 "--size: '17M' is more than" -- ping tcp://127.0.0.1:9 --size 17M
expect_error "send - with --count" 2 "--count: not with MESSAGE -" -- send tcp://127.0.0.1:9 - --count 2
if start_server stalled udp serve --port 0 --bind 127.0.0.1 --count 1; then
  kill -STOP "$server_pid"  # a server that never answers: the longest timeout waits
  timeout 1 "$nexo" udp send hi 127.0.0.1 --port "$port" --timeout 2147483647 >"$work/long.out" 2>&1
  rc=$?
  [[ $rc -eq 124 ]] && pass "--timeout 2147483647 waits (killed after 1 s)" \
    || fail "--timeout 2147483647 returned $rc: $(cat "$work/long.out")"
  kill -CONT "$server_pid"
  kill "$server_pid" 2>/dev/null
fi

# --- nexo send - : a message per line of standard input --------------------------
if start_server lines recv tcp://127.0.0.1:0 --count 3; then
  out=$(printf 'first\nsecond line\n\n' | timeout $((20 * scale)) "$nexo" send "tcp://127.0.0.1:$port" - --numbered)
  [[ $out == $'Sent: first 0\nSent: second line 1\nSent:  2' ]] && pass "send - sends each line of stdin" \
    || fail "send - printed '$out'"
  wait "$server_pid" && pass "recv got the three lines" || fail "recv exit $?"
  [[ $(cat "$work/lines.out") == $'Received: first 0\nReceived: second line 1\nReceived:  2' ]] \
    && pass "the lines arrive as messages, without their newlines" || fail "recv printed: $(cat "$work/lines.out")"
fi

# --- unmarshal input that is not a file of bytes --------------------------------
expect_error "unmarshal a directory (was an uncaught ios_failure)" 1 "cannot read $work" -- unmarshal --format json "$work"
expect_error "unmarshal more than the input limit" 1 "more than 67108864 bytes of input" -- unmarshal --format cdr /dev/zero

# --- the tour, to its end ----------------------------------------------------------
timeout 300 "$nexo" tour >"$work/tour.out" 2>"$work/tour.err"
rc=$?
[[ $rc -eq 0 && ! -s $work/tour.err ]] && pass "the tour exits 0" || fail "tour exit $rc: $(cat "$work/tour.err")"
tour_has() {  # tour_has "what" REGEX: a line of the tour's output matches
  grep -Eq -- "$2" "$work/tour.out" && pass "tour: $1" || fail "tour: $1: no line matches '$2'"
}
for n in 1 2 3 4 5 6 7 8 9 10; do tour_has "stop $n" "^== $n\. "; done
tour_has "no stop 11" '^Tour complete\.$'
[[ $(grep -c '^== ' "$work/tour.out") -eq 10 ]] || fail "tour: not exactly 10 stops"
tour_has "overlay: bootstrapped" '^   49 nodes bootstrapped from node 0 +routing tables of [0-9]+ contacts'
tour_has "overlay: put stored" '^      stored on the k closest nodes +8 of 8, '
tour_has "overlay: get" '^   node 42 gets it +a value in the overlay$'
tour_has "overlay: a third crashed" '^   nodes crashed +16 of 50$'
tour_has "overlay: get after the crash" '^   node 30 gets it again +a value in the overlay$'
tour_has "mpi: 4 ranks" '^  4 ranks: 4 processes sharing one memory segment'
tour_has "mpi: eager" '^ +8 B  eager: one frame'
tour_has "mpi: rendezvous" '^ +1048576 B  rendezvous: RTS'
tour_has "mpi: Ssend waits" '^    MPI_Ssend  returned after +[0-9.]+ ms \(synchronous'
tour_has "mpi: allreduce" '^    MPI_Allreduce\(rank, MPI_SUM\) = 6 at every rank'
tour_has "mpi: split" '^    MPI_Comm_split by rank % 2: even ranks sum to 2, odd ranks to 4'

tour_has "resolve localhost" '^   resolve\("localhost"\) +.*(127\.0\.0\.1|::1)'
tour_has "an unknown host" '^   resolve\("no-such-host\.invalid"\) +\[resolve_failed\]'
tour_has "udp echo" '^   udp send "Hello" → reply +Hello$'
tour_has "udp echo in UTF-8" '^   udp send "¿Qué tal\?" → reply +¿Qué tal\?$'
tour_has "a receive timeout" '^   receive\(\) +\[timed_out\]'
tour_has "truncation reported" '^   receive_from\(1000-byte buffer\) +\[truncated\]'
tour_has "too large a datagram" '^   send_to\(70,000 bytes\) +\[too_large\]'
tour_has "connect filters" '^   connected receive\(\) got +from the peer$'
tour_has "tcp echo" '^   tcp send "Asunción" → received +Asunción$'
tour_has "writeInt" '^   writeInt\(1984\) +00 00 07 c0$'
tour_has "writeUTF" '^   writeUTF\("Asunción"\) +00 09 41 73 75 6e 63 69 c3 b3 6e$'
tour_has "refused" '^   connect to a port nobody listens on +\[refused\]'
tour_has "silent peer" '^   read\(\) from a silent peer +\[timed_out\]'
tour_has "closed" "^   read\(\) after the peer's shutdown_write\(\) +\[closed\]"
tour_has "reset" '^   read\(\) after the peer aborted +\[reset\]'
tour_has "multicast member 1" '^   member 1 received +hello, group$'
tour_has "multicast member 2" '^   member 2 received +hello, group$'
tour_has "not a group" '^   join\(10\.0\.0\.1\) +\[invalid_argument\]'
tour_has "polled receive" '^   receive_async\(\) polled [0-9]+ times +sent asynchronously$'
tour_has "callback" '^   then\(callback\) ran with +delivered to a callback$'
tour_has "send_sync waited" '^   send_sync waited for the receive +[0-9]+ ms$'
tour_has "request-reply" '^   sender->receive\(\) after send\(\) +it is [0-9]+ s since 1970$'
tour_has "a full queue" '^   send_async\("three"\) +\[would_block\]'
tour_has "udp loses" '^   udp:// messages that arrived +([0-9]|[1-9][0-9]|[1-9][0-9][0-9]) of 1000$'
tour_has "rudp loses nothing" '^   rudp:// messages that arrived +1000 of 1000$'
tour_has "rudp retransmitted" '^   rudp:// sender.s counters .*retransmitted [1-9]'
tour_has "big-endian CDR reads back" '^   unmarshalled from big-endian CDR +the same Person$'
tour_has "a hostile length" '^   a string length of 4294967295 +\['
tour_has "a cut input" '^   the first 17 bytes only +\['
tour_has "a remote object reference" '^   text form +.*127\.0\.0\.1.*1099'
tour_has "group: everything delivered" '^   member 3 delivered 30 of 30, first +127\.0\.0\.1:[0-9]+: hello #1 from member'
tour_has "group: a view without the crashed member" '^   member 1 after [0-9]+ ms +view [0-9]+: 127\.0\.0\.1:[0-9]+, 127\.0\.0\.1:[0-9]+$'
tour_has "group: the diagram" '^   SVG written to +/.*\.svg$'
tour_svg=$(sed -n 's/^   SVG written to *\(\/.*\.svg\)$/\1/p' "$work/tour.out")
[[ -n $tour_svg ]] && grep -q '<svg' "$tour_svg" && pass "tour: the diagram is an SVG" || fail "tour: no SVG at '$tour_svg'"
[[ -n $tour_svg ]] && grep -q 'class="sequencer-hop"' "$tour_svg" && pass "tour: the diagram marks the sequencer's hops" \
  || fail "tour: no sequencer hop in '$tour_svg'"
[[ -n $tour_svg ]] && rm -f "$tour_svg"
sent_sync=$(sed -n 's/^   send_sync waited for the receive *\([0-9]*\) ms$/\1/p' "$work/tour.out")
[[ -n $sent_sync && $sent_sync -ge 50 ]] && pass "tour: send_sync waited for the receiver's 50 ms" \
  || fail "tour: send_sync waited '$sent_sync' ms, less than the receiver took"

# --- nexo mpi demo ------------------------------------------------------------
out=$(timeout $((60 * scale)) "$nexo" mpi demo -n 3 2>"$work/mpi.err"); rc=$?
if [[ $rc -eq 0 && ! -s $work/mpi.err && $out == *"3 ranks: 3 processes"* &&
      $out == *"MPI_Allreduce(rank, MPI_SUM) = 3 at every rank"* && $out == *"binomial tree"* ]]; then
  pass "mpi demo -n 3"
else fail "mpi demo -n 3: exit $rc, stdout '$out', stderr $(cat "$work/mpi.err")"; fi
out=$(timeout $((60 * scale)) "$nexo" mpi demo -n 1 2>"$work/mpi.err"); rc=$?
[[ $rc -eq 0 && $out == *"MPI_Allreduce(rank, MPI_SUM) = 0"* ]] && pass "mpi demo -n 1 (collectives alone)" ||
  fail "mpi demo -n 1: exit $rc, stdout '$out', stderr $(cat "$work/mpi.err")"

# --- nexo group join --------------------------------------------------------
# Alone in its group: it forms a view of its own, sends each line, delivers
# them to itself, leaves at the end of input and exits 0.
gname="cli-$$-$RANDOM"
out=$(printf 'one\ntwo words\n' | timeout $((20 * scale)) "$nexo" group join "$gname" --port 0 --stats 2>"$work/group.err"); rc=$?
me=$(sed -n 's/^nexo group join: .* as \([0-9.]*:[0-9]*\), order fifo$/\1/p' "$work/group.err")
if [[ $rc -eq 0 && -n $me && $out == "$me: one"$'\n'"$me: two words" ]]; then pass "group join alone: '<member>: <text>'"
else fail "group join alone: exit $rc, stdout '$out', stderr $(cat "$work/group.err")"; fi
grep -qE "^view [0-9]+: $me\$" "$work/group.err" && pass "group join prints 'view <id>: <member>'" \
  || fail "group join view line: $(cat "$work/group.err")"
grep -q "^stats group $me: sent 2, delivered 2" "$work/group.err" && pass "group join --stats" \
  || fail "group join --stats: $(cat "$work/group.err")"
printf 'x\n' | timeout $((20 * scale)) "$nexo" group join "$gname" --port 0 --trace "$work/group.svg" 2>/dev/null >/dev/null \
  && grep -q "<svg" "$work/group.svg" && pass "group join --trace writes an SVG" || fail "group join --trace"
# Alone under total order it is its own sequencer: its one message has a sequencer hop.
printf 'x\n' | timeout $((20 * scale)) "$nexo" group join "$gname" --port 0 --order total --trace "$work/hop.svg" 2>/dev/null >/dev/null \
  && [[ $(grep -c 'class="sequencer-hop"' "$work/hop.svg") -eq 1 ]] && pass "group join --order total --trace marks the sequencer hop" \
  || fail "group join --order total --trace: $(grep -c 'class="sequencer-hop"' "$work/hop.svg" 2>&1) sequencer hops"

# --- help ------------------------------------------------------------------
for cmd in "udp serve" "udp send" "tcp serve" "tcp send" "mcast peer" "resolve" "tour" "fault-proxy" "marshal" "unmarshal" "group join"; do
  # shellcheck disable=SC2086
  if "$nexo" $cmd --help | grep -q "Usage: nexo $cmd"; then pass "$cmd --help"; else fail "$cmd --help"; fi
done

echo "cli: $passes passed, $failures failed"
[[ $failures -eq 0 ]]

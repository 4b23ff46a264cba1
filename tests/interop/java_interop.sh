#!/usr/bin/env bash
# Interop tests between the Java programs of Coulouris et al., "Distributed
# Systems: Concepts and Design", chapter 4 (tests/interop/java/*.java) and the
# nexo command-line tool, in both directions.
#
# Usage: java_interop.sh SCENARIO NEXO WORKDIR
#   SCENARIO  one of the names in SCENARIOS below
#   NEXO      path to the nexo executable
#   WORKDIR   scratch directory (Java classes and process output go under it)
#
# The book's programs use fixed ports (UDP 6789, TCP 7896) and MulticastPeer
# joins its group on the default interface, so every scenario runs in a private
# network namespace (unshare --net) holding only lo, with a multicast route on
# lo: fixed ports cannot clash under parallel ctest, and multicast traffic never
# leaves the namespace. Needs root, unshare, ip, java and javac; without them
# the script prints "SKIP: <reason>" and exits 77 (under CI=true it fails).
#
# No fixed sleeps: readiness is polled, with a deadline, from /proc/net/{udp,tcp}
# (bound / listening sockets), /proc/net/igmp (group memberships) and the Udp
# counters of /proc/net/snmp (datagrams sent and received in the namespace).
set -euo pipefail

readonly SCENARIOS=(udp.java_client_nexo_server udp.nexo_client_java_server
  tcp.java_client_nexo_server tcp.nexo_client_java_server mcast.java_peer_nexo_peers)
readonly SKIP=77
readonly UDP_PORT=6789 TCP_PORT=7896 GROUP=228.5.6.7
readonly HOST=localhost
readonly DEADLINE_S=10      # every readiness / exit wait
readonly CLIENT_TIMEOUT_S=20
readonly SERVER_TIMEOUT_S=100   # background processes never outlive this

SELF=$(readlink -f "${BASH_SOURCE[0]}")
readonly SELF
JAVA_DIR=$(dirname "$SELF")/java
readonly JAVA_DIR

log() { printf '%s\n' "$*"; }
# The command line as one would type it (arguments with spaces quoted).
show_cmd() {
  local arg out=()
  for arg; do
    if [[ $arg == *[[:space:]]* || -z $arg ]]; then out+=("'$arg'"); else out+=("$arg"); fi
  done
  printf '%s' "${out[*]}"
}
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
# Under CI=true every prerequisite is there: a missing one is a failure.
skip() {
  [[ ${CI:-} == true ]] && fail "CI=true: cannot run: $*"
  printf 'SKIP: %s\n' "$*"; exit "$SKIP"
}

usage() {
  printf 'usage: %s SCENARIO NEXO WORKDIR\nscenarios: %s\n' \
    "$(basename "$0")" "${SCENARIOS[*]}" >&2
  exit 2
}

# ---------------------------------------------------------------- outside ---

check_prerequisites() {
  [[ $(id -u) -eq 0 ]] || skip "needs root for a private network namespace (unshare --net)"
  local tool
  for tool in unshare ip java javac timeout; do
    command -v "$tool" >/dev/null || skip "'$tool' not found on PATH"
  done
  local err
  err=$(unshare --net true 2>&1) || skip "cannot create a network namespace: unshare --net: $err"
  [[ -x $NEXO ]] || fail "nexo executable '$NEXO' not found or not executable"
}

compile_java() {
  local classes=$WORK/classes
  rm -rf "$classes" && mkdir -p "$classes"
  if ! javac -nowarn -Xlint:-deprecation -encoding UTF-8 -d "$classes" \
       "$JAVA_DIR"/*.java >"$WORK/javac.log" 2>&1; then
    cat "$WORK/javac.log" >&2
    fail "javac could not compile $JAVA_DIR/*.java"
  fi
}

# ----------------------------------------------------------------- inside ---

setup_namespace() {
  ip link set lo up || skip "ip link set lo up failed in the new namespace"
  ip link set lo multicast on || skip "cannot enable multicast on lo"
  ip route add 224.0.0.0/4 dev lo || skip "cannot add a multicast route on lo"
}

utf8_locale() {
  local l
  for l in C.UTF-8 C.utf8 en_US.UTF-8 en_US.utf8; do
    if locale -a 2>/dev/null | grep -qix "$l"; then printf '%s\n' "$l"; return 0; fi
  done
  return 1
}

# The book's programs take their text from argv and print with the platform
# charset: run them under a UTF-8 locale so non-ASCII text survives.
setup_java() {
  local loc
  loc=$(utf8_locale) || skip "no UTF-8 locale (C.UTF-8) installed; Java would mangle non-ASCII argv"
  export LC_ALL=$loc
  JAVA=(java -Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8
        -Dsun.stderr.encoding=UTF-8 -cp "$WORK/classes")
}

declare -A PID=()   # background process name -> pid (of its `timeout` wrapper)

cleanup() {
  local name pid i
  for name in "${!PID[@]}"; do
    pid=${PID[$name]}
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
      pkill -KILL -P "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# start_bg NAME CMD...: runs CMD in the background, stdout/stderr to
# $WORK/NAME.out / NAME.err.
start_bg() {
  local name=$1; shift
  log "  start: $(show_cmd "$@")"
  timeout "$SERVER_TIMEOUT_S" "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID[$name]=$!
}

show_output() {
  local name=$1
  printf -- '--- %s stdout:\n' "$name" >&2; tr -d '\000' <"$WORK/$name.out" >&2 || true
  printf -- '--- %s stderr:\n' "$name" >&2; cat "$WORK/$name.err" >&2 || true
}

alive() { kill -0 "${PID[$1]}" 2>/dev/null; }

# wait_until DESCRIPTION WATCHED-NAMES CHECK...: polls CHECK until it succeeds;
# fails after DEADLINE_S or as soon as a watched background process has exited.
wait_until() {
  local what=$1 watched=$2; shift 2
  local end=$((SECONDS + DEADLINE_S)) name
  until "$@"; do
    for name in $watched; do
      if ! alive "$name"; then
        local rc=0
        wait "${PID[$name]}" || rc=$?
        unset "PID[$name]"
        show_output "$name"
        fail "$name exited (status $rc) while waiting for: $what"
      fi
    done
    if ((SECONDS >= end)); then
      for name in $watched; do show_output "$name"; done
      fail "timed out after ${DEADLINE_S}s waiting for: $what"
    fi
    sleep 0.02
  done
}

# wait_exit NAME: waits (with deadline) for a background process to finish and
# checks that it exited with status 0.
wait_exit() {
  local name=$1
  local end=$((SECONDS + DEADLINE_S)) rc=0
  while alive "$name"; do
    if ((SECONDS >= end)); then
      show_output "$name"
      fail "$name still running ${DEADLINE_S}s after it should have finished"
    fi
    sleep 0.02
  done
  wait "${PID[$name]}" || rc=$?
  unset "PID[$name]"
  if ((rc != 0)); then
    show_output "$name"
    fail "$name exited with status $rc"
  fi
}

# run_client NAME CMD...: runs CMD under a timeout and waits for it; output
# in $WORK/NAME.out / NAME.err; fails on a non-zero status. (Run in the
# background and waited for, so that a TERM to this script is acted on at once.)
run_client() {
  local name=$1; shift
  log "  run:   $(show_cmd "$@")"
  local rc=0
  timeout "$CLIENT_TIMEOUT_S" "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PID[$name]=$!
  wait "${PID[$name]}" || rc=$?
  unset "PID[$name]"
  if ((rc != 0)); then
    show_output "$name"
    ((rc == 124)) && fail "$name timed out after ${CLIENT_TIMEOUT_S}s"
    fail "$name exited with status $rc"
  fi
}

# expect_output NAME WHO EXPECTED: compares NAME's stdout (NULs stripped: the
# book's programs print their whole 1000-byte buffer) with EXPECTED.
expect_output() {
  local name=$1 who=$2 expected=$3 got
  got=$(tr -d '\000' <"$WORK/$name.out")
  if [[ $got != "$expected" ]]; then
    show_output "$name"
    fail "expected '$expected' from $who, got '$got'"
  fi
  log "  ok:    $who printed '${expected//$'\n'/\\n}'"
}

hex_port() { printf '%04X' "$1"; }

# A socket bound to the port in /proc/net/udp or udp6 (IPv4 or dual-stack).
udp_bound() {
  local hex
  hex=$(hex_port "$1")
  cat /proc/net/udp /proc/net/udp6 2>/dev/null |
    awk -v p=":$hex" 'substr($2, length($2) - 4) == p { found = 1 } END { exit !found }'
}

# A TCP socket listening (state 0A) on the port.
tcp_listening() {
  local hex
  hex=$(hex_port "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v p=":$hex" 'substr($2, length($2) - 4) == p && $4 == "0A" { found = 1 }
                      END { exit !found }'
}

# Memberships of an IPv4 group in /proc/net/igmp (summed over interfaces). The
# group is printed as the hex of the raw 32-bit value: little-endian on most
# hosts, so both byte orders are accepted.
igmp_users() {
  local a b c d le be
  IFS=. read -r a b c d <<<"$1"
  le=$(printf '%02X%02X%02X%02X' "$d" "$c" "$b" "$a")
  be=$(printf '%02X%02X%02X%02X' "$a" "$b" "$c" "$d")
  awk -v le="$le" -v be="$be" '$1 == le || $1 == be { n += $2 } END { print n + 0 }' \
    /proc/net/igmp
}
igmp_users_at_least() { (($(igmp_users "$1") >= $2)); }

# A counter of the Udp: lines in /proc/net/snmp (this namespace only).
udp_counter() {
  awk -v want="$1" '$1 == "Udp:" {
      if (!hdr) { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1 }
      else { print $(col[want]); exit } }' /proc/net/snmp
}
# Datagrams sent (OutDatagrams) and read by applications (InDatagrams).
udp_counts_at_least() {
  (($(udp_counter OutDatagrams) >= $1 && $(udp_counter InDatagrams) >= $2))
}

# -------------------------------------------------------------- scenarios ---

scenario_udp.java_client_nexo_server() {
  log "Java UDPClient -> nexo udp serve (port $UDP_PORT), two messages"
  start_bg nexo_server "$NEXO" udp serve --port "$UDP_PORT" --count 2
  wait_until "nexo udp serve bound to UDP port $UDP_PORT" nexo_server udp_bound "$UDP_PORT"
  local i=0 msg
  for msg in "hello from Java" "Asunción"; do
    i=$((i + 1))
    run_client "java_client$i" "${JAVA[@]}" UDPClient "$msg" "$HOST"
    expect_output "java_client$i" "Java UDPClient" "Reply: $msg"
  done
  wait_exit nexo_server
  log "  ok:    nexo udp serve --count 2 exited 0 after two datagrams"
}

scenario_udp.nexo_client_java_server() {
  log "nexo udp send -> Java UDPServer (port $UDP_PORT), two messages"
  start_bg java_server "${JAVA[@]}" UDPServer
  wait_until "Java UDPServer bound to UDP port $UDP_PORT" java_server udp_bound "$UDP_PORT"
  local i=0 msg
  for msg in "hello from nexo" "Asunción"; do
    i=$((i + 1))
    run_client "nexo_client$i" "$NEXO" udp send "$msg" "$HOST" --port "$UDP_PORT" --timeout 5000
    expect_output "nexo_client$i" "nexo udp send" "Reply: $msg"
  done
}

readonly TCP_TEXTS=("hello from the other side" "Asunción" "naïve 😀")

scenario_tcp.java_client_nexo_server() {
  log "Java TCPClient -> nexo tcp serve (port $TCP_PORT): writeUTF/readUTF, non-ASCII and a supplementary character"
  start_bg nexo_server "$NEXO" tcp serve --port "$TCP_PORT" --count "${#TCP_TEXTS[@]}"
  wait_until "nexo tcp serve listening on TCP port $TCP_PORT" nexo_server tcp_listening "$TCP_PORT"
  local i=0 msg
  for msg in "${TCP_TEXTS[@]}"; do
    i=$((i + 1))
    run_client "java_client$i" "${JAVA[@]}" TCPClient "$msg" "$HOST"
    expect_output "java_client$i" "Java TCPClient" "Received: $msg"
  done
  wait_exit nexo_server
  log "  ok:    nexo tcp serve --count ${#TCP_TEXTS[@]} exited 0"
}

scenario_tcp.nexo_client_java_server() {
  log "nexo tcp send -> Java TCPServer (port $TCP_PORT): writeUTF/readUTF, non-ASCII and a supplementary character"
  start_bg java_server "${JAVA[@]}" TCPServer
  wait_until "Java TCPServer listening on TCP port $TCP_PORT" java_server tcp_listening "$TCP_PORT"
  local i=0 msg
  for msg in "${TCP_TEXTS[@]}"; do
    i=$((i + 1))
    run_client "nexo_client$i" "$NEXO" tcp send "$msg" "$HOST" --port "$TCP_PORT" --timeout 5000
    expect_output "nexo_client$i" "nexo tcp send" "Received: $msg"
  done
}

# Every member sends once, right after joining, and each datagram reaches the
# members joined at that moment (own one included: loopback is on). Members are
# started one at a time, the next only once the previous one's datagram has been
# sent and read by everyone joined (Udp OutDatagrams / InDatagrams), so who
# receives what is fixed:
#
#   step  starts                        sent    received by          Out  In
#   1     nexo A  --count 3             nexo-A  A                    1    1
#   2     Java B  (MulticastPeer, 3)    java-B  A B                  2    3
#   3     nexo C  --count 1             nexo-C  A B C  -> A, C done  3    6
#   4     nexo D  --count 1             nexo-D  B D    -> B, D done  4    8
#
# nexo A receives the Java peer's datagram; the Java peer receives nexo C's and
# nexo D's. All texts have the same length, because MulticastPeer reuses one
# buffer and prints all of it (a shorter datagram would show the tail of a
# longer earlier one).
scenario_mcast.java_peer_nexo_peers() {
  log "Java MulticastPeer and nexo mcast peer on group $GROUP port $UDP_PORT"
  local -a nexo_peer=("$NEXO" mcast peer)
  local -a opts=(--port "$UDP_PORT" --timeout 60000)

  log "step 1: nexo peer A (--count 3) joins and sends 'nexo-A'"
  start_bg nexo_A "${nexo_peer[@]}" nexo-A "$GROUP" "${opts[@]}" --count 3
  wait_until "nexo peer A joined $GROUP (/proc/net/igmp)" nexo_A igmp_users_at_least "$GROUP" 1
  wait_until "nexo peer A sent 'nexo-A' and read it back (loopback)" nexo_A udp_counts_at_least 1 1

  log "step 2: Java MulticastPeer B joins and sends 'java-B'"
  start_bg java_B "${JAVA[@]}" MulticastPeer java-B "$GROUP"
  wait_until "Java peer B joined $GROUP (/proc/net/igmp: 2 members)" "nexo_A java_B" \
    igmp_users_at_least "$GROUP" 2
  wait_until "'java-B' sent and read by A and B" "nexo_A java_B" udp_counts_at_least 2 3

  log "step 3: nexo peer C (--count 1) joins and sends 'nexo-C'"
  start_bg nexo_C "${nexo_peer[@]}" nexo-C "$GROUP" "${opts[@]}" --count 1
  wait_until "'nexo-C' sent and read by A, B and C" "java_B" udp_counts_at_least 3 6
  wait_exit nexo_A
  wait_exit nexo_C

  log "step 4: nexo peer D (--count 1) joins and sends 'nexo-D'"
  start_bg nexo_D "${nexo_peer[@]}" nexo-D "$GROUP" "${opts[@]}" --count 1
  wait_exit nexo_D
  wait_exit java_B

  local sent read
  sent=$(udp_counter OutDatagrams) read=$(udp_counter InDatagrams)
  [[ $sent == 4 && $read == 8 ]] ||
    fail "expected 4 datagrams sent and 8 read in the namespace, counted $sent and $read"
  expect_output nexo_A "nexo mcast peer A" $'Received:nexo-A\nReceived:java-B\nReceived:nexo-C'
  expect_output java_B "Java MulticastPeer B" $'Received:java-B\nReceived:nexo-C\nReceived:nexo-D'
  expect_output nexo_C "nexo mcast peer C" 'Received:nexo-C'
  expect_output nexo_D "nexo mcast peer D" 'Received:nexo-D'
  [[ $(igmp_users "$GROUP") == 0 ]] || fail "members still joined to $GROUP after every peer exited"
  log "  ok:    every peer left $GROUP"
}

# ------------------------------------------------------------------- main ---

run_in_namespace() {
  setup_namespace
  setup_java
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  "scenario_$SCENARIO"
  log "PASS: $SCENARIO"
}

main() {
  if [[ ${1:-} == --in-netns ]]; then
    shift
    SCENARIO=$1 NEXO=$2 WORK=$3
    run_in_namespace
    return
  fi
  (($# == 3)) || usage
  SCENARIO=$1 NEXO=$2
  [[ " ${SCENARIOS[*]} " == *" $SCENARIO "* ]] || usage
  NEXO=$(readlink -f "$NEXO" || printf '%s' "$NEXO")
  WORK=$(readlink -m "$3")/$SCENARIO
  check_prerequisites
  mkdir -p "$WORK"
  rm -f "$WORK"/*.out "$WORK"/*.err
  compile_java
  log "scenario $SCENARIO in a private network namespace; work dir $WORK"
  exec unshare --net -- bash "$SELF" --in-netns "$SCENARIO" "$NEXO" "$WORK"
}

main "$@"

#!/bin/sh
# nexorun with nexo's MPI runtime, end to end, beyond the self-checking programs:
#   killed   a rank killed mid-job (SIGKILL) while the others wait for it: the job ends with
#            exit status 137 and a message naming the rank (over shared memory and over TCP);
#   trace    --trace FILE: a Chrome trace with a slice per MPI call of every rank and a flow
#            (an arrow) from each send to its receive;
#   netns    a job over two hosts: two network namespaces joined by a veth pair, which this test
#            makes and removes; 2 ranks in each (shared memory within, TCP between), the agent
#            of the second host started with `nexorun --agent`. Needs root: without it the test
#            fails under CI=true (CI must run everything) and is skipped (exit 77) otherwise.
#   ssh      a job whose ranks 2, 3 run on "host" 127.0.0.2, reached through a real ssh login: the
#            test starts its own sshd there (fresh keys, a free port, in a temporary directory it
#            removes), and nexorun starts `nexorun --agent-stdio` through it (NEXORUN_SSH); the
#            hosts talk TCP. The programs pass (one by a relative path: the ranks start in the
#            launcher's directory, not the login's); MPI_Abort on the ssh host ends the job with 7
#            and leaves no rank, agent or login behind, and so does the launcher killed outright.
#            Needs root and sshd (openssh-server): without them it fails under CI=true and is
#            skipped (exit 77) otherwise.
# usage: jobs_test.sh killed|trace|netns|ssh BIN_DIR PROGRAM_DIR WORK_DIR
set -eu
what=$1
bin=$2
programs=$3
work=$4
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

case "$what" in
killed)
  for transport in auto tcp; do
    start=$(date +%s%N)
    status=0
    timeout 60 "$bin/nexorun" --transport "$transport" -n 4 "$programs/killed" \
      >"$work/out" 2>"$work/err" || status=$?
    elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    [ "$status" -ne 124 ] || fail "$transport: the job hung (killed by the 60 s guard)"
    [ "$status" -eq 137 ] || fail "$transport: exit status $status, expected 137; stderr: $(cat "$work/err")"
    grep -q "rank 3" "$work/err" || fail "$transport: no message naming rank 3: $(cat "$work/err")"
    grep -q FAIL "$work/out" && fail "$transport: $(cat "$work/out")"
    echo "killed ($transport): exit 137 after ${elapsed_ms} ms: $(grep 'rank 3' "$work/err" | head -1)"
  done
  ;;
trace)
  rm -f "$work/trace.json"
  "$bin/nexorun" --trace "$work/trace.json" -n 3 "$programs/order" >/dev/null ||
    fail "the traced job failed"
  python3 - "$work/trace.json" <<'PY' || fail "the trace is not what it should be"
import json, sys
events = json.load(open(sys.argv[1]))
calls = [e for e in events if e.get("ph") == "X"]
ranks = {e["pid"] for e in calls}
assert ranks == {0, 1, 2}, ranks
names = {e["name"] for e in calls}
for n in ("MPI_Send", "MPI_Recv", "MPI_Barrier", "MPI_Finalize"):
    assert n in names, (n, sorted(names))
starts = {e["id"]: e for e in events if e.get("ph") == "s"}
ends = {e["id"]: e for e in events if e.get("ph") == "f"}
assert starts and ends, "no flows"
matched = [i for i in ends if i in starts]
assert len(matched) >= len(ends) * 0.99, (len(matched), len(ends))
# An arrow goes from one rank to another, forward in time (one host: one clock).
for i in matched:
    assert starts[i]["ts"] <= ends[i]["ts"] + 1, (starts[i], ends[i])
# A send names its peer (-1 only for MPI_PROC_NULL, which the program uses too).
sends = [e for e in calls if e["name"] in ("MPI_Send", "MPI_Isend", "MPI_Ssend", "MPI_Issend")]
assert sum(1 for e in sends if e["args"]["peer"] >= 0) > len(sends) * 0.9, "sends without a peer"
print(f"trace: {len(calls)} calls on ranks {sorted(ranks)}, {len(matched)} send->receive arrows")
PY
  ;;
netns)
  if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1; then
    [ "${CI:-}" = "true" ] && fail "CI=true: the multi-host test needs root and ip(8), and CI has both"
    echo "SKIP: needs root and ip(8) to make network namespaces"
    exit 77
  fi
  a="nxmpi-$$-a"
  b="nxmpi-$$-b"
  agent_pid=""
  cleanup() {
    [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null || true
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
  }
  trap cleanup EXIT INT TERM
  ip netns add "$a"
  ip netns add "$b"
  ip link add "nxa$$" netns "$a" type veth peer name "nxb$$" netns "$b"
  ip -n "$a" link set lo up
  ip -n "$b" link set lo up
  ip -n "$a" addr add 10.231.0.1/24 dev "nxa$$"
  ip -n "$b" addr add 10.231.0.2/24 dev "nxb$$"
  ip -n "$a" link set "nxa$$" up
  ip -n "$b" link set "nxb$$" up
  # Both hosts' ranks sleep without bound (NEXO_MPI_SLEEP_MS): in this job with both transports
  # a TCP message must wake its sleeping receiver (the TCP watcher), or the job hangs and fails.
  export NEXO_MPI_SLEEP_MS=600000
  ip netns exec "$b" "$bin/nexorun" --agent --listen 10.231.0.2:7911 2>"$work/agent.err" &
  agent_pid=$!
  for _ in $(seq 100); do
    ip netns exec "$a" sh -c "exec 3<>/dev/tcp/10.231.0.2/7911" 2>/dev/null && break || true
    grep -q "listen" "$work/agent.err" 2>/dev/null && break
    sleep 0.1
  done
  for program in order coll sizes comm wake; do
    status=0
    ip netns exec "$a" timeout 120 "$bin/nexorun" -n 4 --host "localhost:2,agent://10.231.0.2:7911:2" \
      --tag-output "$programs/$program" >"$work/$program.out" 2>&1 || status=$?
    [ "$status" -eq 0 ] || fail "$program over two hosts: exit $status: $(tail -20 "$work/$program.out")"
    grep -q "PASS $program" "$work/$program.out" || fail "$program: no PASS line: $(cat "$work/$program.out")"
    echo "netns: $program passed with ranks 0,1 in $a and 2,3 in $b"
  done
  ;;
ssh)
  sshd=/usr/sbin/sshd  # sshd re-executes itself: it wants its absolute path
  if [ "$(id -u)" -ne 0 ] || [ ! -x "$sshd" ] || ! command -v ssh >/dev/null 2>&1; then
    [ "${CI:-}" = "true" ] &&
      fail "CI=true: the ssh test needs root, $sshd and ssh (openssh-server, openssh-client), and CI has them"
    echo "SKIP: needs root, $sshd and ssh (openssh-server and openssh-client)"
    exit 77
  fi
  dir=$(mktemp -d)
  sshd_pid=""
  launcher=""
  cleanup() {
    [ -z "$launcher" ] || kill -KILL "$launcher" 2>/dev/null || true
    [ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
    rm -rf "$dir"
  }
  trap cleanup EXIT
  trap 'exit 1' INT TERM
  ssh-keygen -q -t ed25519 -N '' -C nexo-test-host -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C nexo-test-client -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  mkdir -p /run/sshd  # its privilege-separation directory
  # A port free now may be taken before sshd binds it: then another one.
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0)); print(s.getsockname()[1])')
    cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.2
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel VERBOSE
AcceptEnv ASAN_OPTIONS UBSAN_OPTIONS
EOF
    "$sshd" -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
    sshd_pid=$!
    # SendEnv: a sanitizer build's settings reach the ranks there too (a login's environment
    # is fresh).
    ssh_cmd="ssh -F /dev/null -p $port -i $dir/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o SendEnv=ASAN_OPTIONS -o SendEnv=UBSAN_OPTIONS"
    up=no
    for _ in $(seq 100); do
      kill -0 "$sshd_pid" 2>/dev/null || break
      # shellcheck disable=SC2086 # the command's words
      if $ssh_cmd -o ConnectTimeout=5 127.0.0.2 true 2>"$dir/probe.err"; then up=yes; break; fi
      sleep 0.1
    done
    [ "$up" = yes ] && break
    kill "$sshd_pid" 2>/dev/null || true
    wait "$sshd_pid" 2>/dev/null || true
    sshd_pid=""
    grep -q "Address already in use" "$dir/sshd.log" 2>/dev/null ||
      fail "sshd on 127.0.0.2:$port did not let us in: $(cat "$dir/probe.err" "$dir/sshd.log" 2>&1)"
  done
  [ -n "$sshd_pid" ] || fail "sshd found no free port on 127.0.0.2 in 5 attempts: $(cat "$dir/sshd.log")"
  export NEXORUN_SSH="$ssh_cmd"
  # logins: how many sessions sshd has let in so far.
  logins() { grep -c "Accepted publickey for" "$dir/sshd.log" || true; }
  # left PATTERN: the processes whose command line holds PATTERN, once the job's end has had
  # up to 5 s to reach them (the launcher waits for its ranks and agents, not for sshd).
  left() {
    for _ in $(seq 50); do
      pgrep -f -- "$1" >/dev/null || return 0
      sleep 0.1
    done
    pgrep -af -- "$1"
  }
  hosts=localhost:2,127.0.0.2:2
  for program in order coll sizes; do
    # order by a relative path: the login starts in the home directory, the ranks in ours.
    path=$programs/$program
    [ "$program" != order ] || path=./order
    before=$(logins)
    status=0
    (cd "$programs" && exec timeout 120 "$bin/nexorun" -n 4 --host "$hosts" "$path") \
      >"$work/$program.out" 2>"$work/$program.err" || status=$?
    [ "$status" -eq 0 ] ||
      fail "$program over ssh: exit $status: $(tail -20 "$work/$program.err"; tail -5 "$dir/sshd.log")"
    [ "$(grep -c "^PASS $program\$" "$work/$program.out")" -eq 1 ] ||
      fail "$program over ssh: no PASS line: $(cat "$work/$program.out" "$work/$program.err")"
    [ "$(logins)" -gt "$before" ] || fail "$program: passed, but sshd let no one in: $(cat "$dir/sshd.log")"
    echo "ssh: $program passed with ranks 0,1 here and 2,3 on 127.0.0.2 through ssh (port $port)"
  done
  # MPI_Abort on the ssh host: the last rank (3, on 127.0.0.2) aborts while the others block.
  status=0
  timeout 120 "$bin/nexorun" -n 4 --host "$hosts" "$programs/abort" \
    >"$work/abort.out" 2>"$work/abort.err" || status=$?
  [ "$status" -eq 7 ] || fail "abort over ssh: exit $status, expected 7: $(cat "$work/abort.err")"
  grep -q "rank 3 called MPI_Abort(7)" "$work/abort.err" ||
    fail "abort over ssh: no message naming rank 3: $(cat "$work/abort.err")"
  stray=$(left "$programs/abort")
  [ -z "$stray" ] || fail "abort over ssh: ranks left running: $stray"
  stray=$(left "$bin/nexorun --agent-stdio")
  [ -z "$stray" ] || fail "abort over ssh: agents left running: $stray"
  stray=$(for _ in $(seq 50); do pgrep -P "$sshd_pid" >/dev/null || break; sleep 0.1; done
          pgrep -aP "$sshd_pid" || true)
  [ -z "$stray" ] || fail "abort over ssh: logins left open: $stray"
  echo "ssh: MPI_Abort(7) on 127.0.0.2 ended the job with 7, no rank, agent or login left"
  # The launcher killed outright (SIGKILL: no teardown of its own): its ssh dies with it, the
  # login closes, and the agent there ends its ranks. A copy of sleep under a name of our own
  # stands in for the ranks (a program without MPI_Init runs as plain processes).
  cp "$(command -v sleep)" "$dir/nexo-ssh-test-sleep"
  "$bin/nexorun" -n 4 --host "$hosts" "$dir/nexo-ssh-test-sleep" 300 >"$work/drop.out" 2>&1 &
  launcher=$!
  # (^: the ranks, not the launcher, whose arguments name the program too)
  for _ in $(seq 100); do
    [ "$(pgrep -cf -- "^$dir/nexo-ssh-test-sleep" || true)" -ge 4 ] && break
    sleep 0.1
  done
  [ "$(pgrep -cf -- "^$dir/nexo-ssh-test-sleep" || true)" -ge 4 ] ||
    fail "the 4 sleeping ranks did not start: $(cat "$work/drop.out")"
  kill -KILL "$launcher"
  wait "$launcher" 2>/dev/null || true
  launcher=""
  stray=$(left "$dir/nexo-ssh-test-sleep")
  [ -z "$stray" ] || fail "launcher killed: ranks left running: $stray"
  stray=$(left "$bin/nexorun --agent-stdio")
  [ -z "$stray" ] || fail "launcher killed: agents left running: $stray"
  echo "ssh: the launcher killed, its ranks here and on 127.0.0.2 ended with it"
  ;;
*)
  fail "unknown test $what"
  ;;
esac

#!/usr/bin/env bash
# nexorun end to end, with nexorun_test_rank as the program (it speaks the control protocol
# without the MPI runtime): exit statuses and the messages naming the rank, teardown leaving no
# process (every rank, and a rank's child, writes its pid; none may be left), --timeout, the
# init timeout naming the ranks, errors before the start, --tag-output, 4 ranks on 2 cores,
# --trace, agents on 127.0.0.2 and 127.0.0.3, and hosts reached through ssh (a stand-in for
# ssh that runs the command here, and the real ssh failing to reach 127.0.0.9). Loopback only; every port is chosen by the
# kernel. Bounds (timeout N) only guard against hangs: nothing passes by waiting them out.
set -uo pipefail
nexorun=${1:?usage: nexorun_test.sh PATH/TO/nexorun PATH/TO/nexorun_test_rank}
rank=${2:?usage: nexorun_test.sh PATH/TO/nexorun PATH/TO/nexorun_test_rank}
scale=${NEXO_TIMEOUT_SCALE:-1}
work=$(mktemp -d)
agents=()
cleanup() {
  for p in "${agents[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$work"
  [[ -n ${stash:-} ]] && rmdir "$stash" 2>/dev/null
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# A process that still runs (a zombie does not count: nobody is left to run it).
alive() { [[ -e /proc/$1 ]] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

# run NAME nexorun-args...: runs a job with pid files in $work/NAME.pids; sets rc, out, err.
run() {
  local name=$1
  shift
  pids=$work/$name.pids
  mkdir -p "$pids"
  NEXORUN_TEST_PIDS=$pids timeout $((60 * scale)) "$nexorun" "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
  out=$(cat "$work/$name.out")
  err=$(cat "$work/$name.err")
}

# no_orphans NAME: every pid the job's ranks wrote is gone (the launcher reaps before it exits;
# a rank's child is killed with its process group and reaped by init, hence the short wait).
no_orphans() {
  local left=() p
  for f in "$work/$1.pids"/*; do
    [[ -e $f ]] || continue
    p=$(cat "$f")
    for _ in $(seq 1 $((100 * scale))); do alive "$p" || break; sleep 0.05; done
    alive "$p" && left+=("$(basename "$f")=$p")
  done
  if [[ ${#left[@]} -eq 0 ]]; then pass "$1: no process left"; else fail "$1: left running: ${left[*]}"; fi
}

# expect NAME CODE NEEDLE: the exit status and a line of stderr.
expect() {
  if [[ $rc -ne $2 ]]; then fail "$1: exit $rc, expected $2 (stderr: $err)"; return 1; fi
  if [[ $err != *"$3"* ]]; then fail "$1: stderr lacks '$3': $err"; return 1; fi
  pass "$1 → exit $rc: $(grep -F -- "$3" <<<"$err" | head -1)"
}

# --- local jobs ------------------------------------------------------------------------------
run ok -n 4 "$rank" ok
if [[ $rc -eq 0 && $(grep -c '^rank [0-3]/4 host=.* local=[0-3]/4 shm=4 ' <<<"$out") -eq 4 ]]; then
  pass "4 ranks, one segment of 4, exit 0"
else
  fail "4 ranks: exit $rc, out: $out, err: $err"
fi
no_orphans ok

run plain -n 2 --init-timeout 1 sh -c 'sleep 2; echo plain'
[[ $rc -eq 0 && $out == $'plain\nplain' ]] && pass "a program without MPI_Init runs as plain processes" ||
  fail "plain: exit $rc, out: $out, err: $err"

if command -v taskset >/dev/null; then
  NEXORUN_TEST_PIDS=$work taskset -c 0,1 timeout $((60 * scale)) "$nexorun" -np 4 "$rank" ok >"$work/cores.out" 2>&1
  rc=$?
  [[ $rc -eq 0 && $(grep -c '^rank ' "$work/cores.out") -eq 4 ]] && pass "4 ranks pinned to 2 cores" ||
    fail "4 ranks on 2 cores: exit $rc: $(cat "$work/cores.out")"
else
  fail "taskset (util-linux) is missing: cannot pin 4 ranks to 2 cores"
fi

run tag -n 3 --tag-output "$rank" ok 1=noisy
bad=$(grep -v '^\[[0-2]\] ' <<<"$out")
if [[ $rc -eq 0 && -z $bad && $(grep -c '^\[\([0-2]\)\] rank \1/3' <<<"$out") -eq 3 ]] &&
   grep -qx '\[1\] rank 1 unterminated' <<<"$out" && grep -qx '\[1\] rank 1 on stderr' <<<"$err"; then
  pass "--tag-output: every stdout and stderr line prefixed with its rank, a last line without newline kept"
else
  fail "--tag-output: exit $rc, out: $out, err: $err"
fi

run exit3 -n 3 "$rank" hang 1=exit:3
expect "a rank exits 3" 3 "rank 1 (pid" && [[ $err == *"exited with status 3"* ]] || fail "exit3: $err"
no_orphans exit3

run segv -n 3 "$rank" hang 2=segv
expect "a rank crashes" 139 "rank 2 (pid" && [[ $err == *"signal 11 (SIGSEGV"* ]] || fail "segv: $err"
no_orphans segv

run nofin -n 3 "$rank" hang 2=exit:0
expect "exit 0 without finalize" 1 "rank 2 exited without MPI_Finalize"
no_orphans nofin

run abort -n 3 "$rank" hang 0=abort:7
expect "MPI_Abort" 7 "rank 0 called MPI_Abort(7)"
no_orphans abort

# A rank's own child is ended with its rank's process group (SIGTERM to the launcher once both
# ranks reported their child).
# start_job NAME nexorun-args...: a job in the background ($job) once its output has N lines
# matching PATTERN (set before: want_lines, want_pattern).
start_job() {
  local name=$1
  shift
  mkdir -p "$work/$name.pids"
  NEXORUN_TEST_PIDS=$work/$name.pids "$nexorun" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  job=$!
  for _ in $(seq 1 $((400 * scale))); do
    [[ $(grep -c "$want_pattern" "$work/$name.out") -ge $want_lines ]] && return 0
    sleep 0.05
  done
  fail "$name: the job did not print $want_lines lines '$want_pattern': $(cat "$work/$name.out" "$work/$name.err")"
}
want_lines=2 want_pattern='^child pid='
start_job child -n 2 "$rank" child
kill -TERM "$job"
wait "$job"
rc=$?
err=$(cat "$work/child.err")
expect "ranks with children, SIGTERM" 143 "interrupted (SIGTERM)"
[[ -e $work/child.pids/child-0 && -e $work/child.pids/child-1 ]] || fail "child: no child pids"
no_orphans child

run timeout -n 2 --timeout 2 "$rank" hang
expect "--timeout" 124 "job timed out after 2 s"
no_orphans timeout

run init -n 4 --init-timeout 2 "$rank" hang 2=nohello 3=nohello
expect "init timeout" 1 "ranks 2, 3 did not start MPI within 2 s"
no_orphans init

run missing -n 2 "$work/no-such-program"
expect "missing program" 1 "does not exist"
run missing_path -n 2 no-such-program-nexorun-test
expect "program not in PATH" 1 "not found in PATH"
touch "$work/not-exec"
run notexec -n 2 "$work/not-exec"
expect "program not executable" 1 "not executable"
run usage -n 2
expect "usage error" 2 "no PROGRAM"

mkdir -p "$work/trace"
run trace -n 3 --trace "$work/trace/all.json" "$rank" ok
if [[ $rc -eq 0 && $(grep -o '"name":"test"' "$work/trace/all.json" | wc -l) -eq 3 ]] &&
   [[ $(head -c1 "$work/trace/all.json") == "[" ]]; then
  pass "--trace: three ranks' events merged into one array"
else
  fail "--trace: exit $rc, err: $err, file: $(cat "$work/trace/all.json" 2>&1)"
fi

# Ctrl-C and SIGTERM: the job ends with 130 / 143 and no rank left.
for sig in INT TERM; do
  want_lines=2 want_pattern='^rank '
  start_job "sig$sig" -n 2 "$rank" hang
  kill -"$sig" "$job"
  wait "$job"
  rc=$?
  err=$(cat "$work/sig$sig.err")
  want=$([[ $sig == INT ]] && echo 130 || echo 143)
  expect "SIG$sig" "$want" "interrupted (SIG$sig)"
  no_orphans "sig$sig"
done

# --- agents on 127.0.0.2 and 127.0.0.3 ---------------------------------------------------------
# start_agent IP: an agent on IP, port 0; sets $agent_port.
start_agent() {
  local log=$work/agent-$1.log
  "$nexorun" --agent --listen "$1:0" 2>"$log" &
  agents+=($!)
  agent_port=""
  for _ in $(seq 1 $((400 * scale))); do
    agent_port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$log")
    [[ -n $agent_port ]] && return 0
    sleep 0.05
  done
  fail "the agent on $1 did not start: $(cat "$log")"
  return 1
}
if start_agent 127.0.0.2 && a2=$agent_port && start_agent 127.0.0.3 && a3=$agent_port; then
  hosts="agent://127.0.0.2:$a2:2,agent://127.0.0.3:$a3:2"
  run agents -n 4 --host "$hosts" --tag-output "$rank" ok
  if [[ $rc -eq 0 && $(grep -c "^\[[01]\] rank [01]/4 host=127.0.0.2:$a2 local=[01]/2 shm=2" <<<"$out") -eq 2 &&
        $(grep -c "^\[[23]\] rank [23]/4 host=127.0.0.3:$a3 local=[01]/2 shm=2" <<<"$out") -eq 2 ]]; then
    pass "agents: 2 ranks on each of 127.0.0.2 and 127.0.0.3, a segment per host, output forwarded"
  else
    fail "agents: exit $rc, out: $out, err: $err"
  fi
  no_orphans agents

  run agents_segv -n 4 --host "$hosts" "$rank" hang 3=segv
  expect "agents: a crash on 127.0.0.3" 139 "rank 3 (pid" && [[ $err == *"on 127.0.0.3:$a3"* ]] ||
    fail "agents_segv: $err"
  no_orphans agents_segv

  run agents_abort -n 4 --host "$hosts" "$rank" hang 1=abort:9
  expect "agents: MPI_Abort on 127.0.0.2" 9 "rank 1 called MPI_Abort(9)"
  no_orphans agents_abort

  run mixed -n 4 --host "localhost:2,agent://127.0.0.2:$a2:2" "$rank" ok
  [[ $rc -eq 0 && $(grep -c '^rank ' <<<"$out") -eq 4 ]] && pass "this machine and an agent in one job" ||
    fail "mixed: exit $rc, out: $out, err: $err"
  no_orphans mixed

  run agent_missing -n 2 --host "agent://127.0.0.2:$a2:2" /no/such/program
  expect "agents: missing program" 1 "could not start its ranks: on $(hostname): program /no/such/program does not exist"

  # The launcher killed outright: the agents see the connection drop and end their ranks.
  want_lines=4 want_pattern='^rank '
  start_job drop -n 4 --host "$hosts" "$rank" hang
  kill -KILL "$job"
  wait "$job" 2>/dev/null
  no_orphans drop
  for p in "${agents[@]}"; do alive "$p" || fail "an agent ended with its job (pid $p)"; done
else
  fail "agents did not start"
fi

# --- hosts reached through ssh -----------------------------------------------------------------
# A stand-in for ssh (no sshd here): takes ssh's options and the host, runs the command on this
# machine in / (a login starts in the home directory, not in the launcher's); 127.0.0.7 fails as
# an unreachable host does.
cat >"$work/fake-ssh" <<'EOF_SSH'
#!/usr/bin/env bash
while [[ $1 == -o ]]; do shift 2; done
host=$1
shift
if [[ $host == 127.0.0.7 ]]; then echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255; fi
cd / && exec "$@"
EOF_SSH
chmod +x "$work/fake-ssh"
export NEXORUN_SSH=$work/fake-ssh
run ssh -n 4 --host 127.0.0.5:2,127.0.0.6:2 --tag-output "$rank" ok
if [[ $rc -eq 0 && $(grep -c '^\[[01]\] rank [01]/4 host=127.0.0.5 local=[01]/2 shm=2' <<<"$out") -eq 2 &&
      $(grep -c '^\[[23]\] rank [23]/4 host=127.0.0.6 local=[01]/2 shm=2' <<<"$out") -eq 2 ]]; then
  pass "ssh: 2 ranks on each of two hosts through nexorun --agent-stdio"
else
  fail "ssh: exit $rc, out: $out, err: $err"
fi
no_orphans ssh
run ssh_fail -n 4 --host 127.0.0.5:2,127.0.0.6:2 "$rank" hang 2=exit:4
expect "ssh: a rank exits 4" 4 "rank 2 (pid"
no_orphans ssh_fail
# A relative program path means the same on the ssh hosts: their ranks start in the launcher's
# directory (which they share here), not in the login's.
cd "$(dirname "$rank")" || exit 1
run ssh_cwd -n 4 --host 127.0.0.5:2,127.0.0.6:2 "./$(basename "$rank")" ok
cd - >/dev/null || exit 1
[[ $rc -eq 0 && $(grep -c '^rank [0-3]/4 ' <<<"$out") -eq 4 ]] &&
  pass "ssh: a relative program path, from the launcher's directory" ||
  fail "ssh_cwd: exit $rc, out: $out, err: $err"
run ssh_down -n 2 --host 127.0.0.7 "$rank" ok
expect "ssh: a host ssh cannot reach" 1 "cannot reach host 127.0.0.7 through ssh: ssh: connect to host"
run ssh_name -n 2 --host nohost.invalid "$rank" ok
expect "a host name that does not resolve" 1 "host 'nohost.invalid': resolve"
unset NEXORUN_SSH

# --trace with ranks whose /tmp is not the launcher's (a private mount namespace with its own
# /tmp, made by the stand-in ssh): their agent ships the files back. Needs root (unshare -m).
# The build tree may itself lie under /tmp (a clone there): the directories of nexorun and of
# the rank program stay visible at their paths (as another host has its own copy of them):
# bound to mount points in a scratch directory outside /tmp first, then back over the new /tmp
# (a bind mount's source must be in the caller's namespace).
if unshare -m --propagation private true 2>/dev/null; then
  cat >"$work/ns-ssh" <<'EOF_SSH'
#!/usr/bin/env bash
while [[ $1 == -o ]]; do shift 2; done
shift
cd / && exec unshare -m --propagation private sh -c '
  set -e
  mount -t tmpfs tmpfs "$NEXO_TEST_STASH"
  i=0
  for dir in $NEXO_TEST_KEEP; do
    mkdir "$NEXO_TEST_STASH/$i" && mount --bind "$dir" "$NEXO_TEST_STASH/$i"
    i=$((i + 1))
  done
  mount -t tmpfs tmpfs /tmp
  i=0
  for dir in $NEXO_TEST_KEEP; do
    mkdir -p "$dir" && mount --bind "$NEXO_TEST_STASH/$i" "$dir"
    i=$((i + 1))
  done
  exec "$@"' sh "$@"
EOF_SSH
  chmod +x "$work/ns-ssh"
  NEXO_TEST_STASH=$(mktemp -d /var/tmp/nexorun-test-ns.XXXXXX)
  stash=$NEXO_TEST_STASH
  NEXO_TEST_KEEP=
  for dir in "$(cd "$(dirname "$nexorun")" && pwd)" "$(cd "$(dirname "$rank")" && pwd)"; do
    [[ $dir == /tmp/* && " $NEXO_TEST_KEEP " != *" $dir "* ]] && NEXO_TEST_KEEP+=" $dir"
  done
  export NEXO_TEST_STASH NEXO_TEST_KEEP
  NEXORUN_SSH=$work/ns-ssh run trace_ssh -n 4 --host 127.0.0.5:2,127.0.0.6:2 --trace "$work/trace/ssh.json" "$rank" ok
  if [[ $rc -eq 0 && $(grep -o '"name":"test"' "$work/trace/ssh.json" | wc -l) -eq 4 && -z $err ]]; then
    pass "--trace: the traces of ranks on another file system travel back through their agents"
  else
    fail "--trace through agents: exit $rc, err: $err, file: $(cat "$work/trace/ssh.json" 2>&1)"
  fi
  # The launcher's directory (under /tmp) is not on those hosts: their ranks start in the
  # login's, where an absolute path still works and a relative one is not found, saying why.
  ln -s "$rank" "$work/rank-link"
  cd "$work" || exit 1
  NEXORUN_SSH=$work/ns-ssh run cwd_gone -n 2 --host 127.0.0.5:2 "$rank" ok
  [[ $rc -eq 0 && $(grep -c '^rank [01]/2 ' <<<"$out") -eq 2 ]] &&
    pass "ssh: the launcher's directory missing on the host, the ranks start in the login's" ||
    fail "cwd_gone: exit $rc, out: $out, err: $err"
  NEXORUN_SSH=$work/ns-ssh run cwd_gone_relative -n 2 --host 127.0.0.5:2 ./rank-link ok
  cd - >/dev/null || exit 1
  expect "ssh: a relative path where the launcher's directory is missing" 1 \
    "program ./rank-link does not exist (check the path; build it first?) (the launcher's directory $work is not on this host: the ranks start in /)"
elif [[ ${CI:-} == true ]]; then
  fail "--trace through agents needs root (unshare -m), and CI=true"
else
  echo "skip: --trace through agents on another file system needs root (unshare -m)"
fi
# The real ssh, to an address where no sshd answers (or one that refuses us: BatchMode).
run ssh_real -n 2 --host 127.0.0.9 "$rank" ok
expect "real ssh to 127.0.0.9" 1 "cannot reach host 127.0.0.9 through ssh"

run unreachable -n 2 --host "agent://127.0.0.2:1" "$rank" ok
expect "an agent that is not there" 1 "cannot reach the agent at 127.0.0.2:1"

# A control port that is taken.
"$nexorun" --agent --listen 127.0.0.1:0 2>"$work/squatter.log" &
agents+=($!)
for _ in $(seq 1 $((400 * scale))); do
  port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/squatter.log")
  [[ -n $port ]] && break
  sleep 0.05
done
run port -n 2 --port "$port" "$rank" ok
expect "a taken control port" 1 "the port is taken (choose another --port"

echo "$failures failure(s)"
[[ $failures -eq 0 ]]

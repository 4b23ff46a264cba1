#!/bin/sh
# nexocc and nexocxx from the build tree: -show prints the command, a C MPI program and a C++ one
# (the facade, cxx.hpp) compile, link and run as singletons (no launcher: MPI's singleton init).
# usage: wrappers_test.sh BIN_DIR SOURCE_DIR WORK_DIR
set -eu
bin=$1
src=$2
work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

shown=$("$bin/nexocc" -show -O2 -o "$work/env" "$src/tests/mpi/env.c")
case "$shown" in
  *"-O2 -o $work/env $src/tests/mpi/env.c"*"-lnexo_mpi"*) ;;
  *) fail "nexocc -show printed: $shown" ;;
esac
[ ! -e "$work/env" ] || rm -f "$work/env"
"$bin/nexocc" -show -c x.c | grep -q -- "-lnexo_mpi" && fail "-c must not add link flags"
"$bin/nexocc" -std=c11 -O2 -Wall -Werror -o "$work/env" "$src/tests/mpi/env.c" || fail "nexocc could not build env.c"
out=$("$work/env") || fail "env (singleton) exited $?"
[ "$out" = "PASS env" ] || fail "env printed: $out"

cat > "$work/hello.cpp" <<'CPP'
#include <nexo/mpi/cxx.hpp>
#include <cstdio>
int main(int argc, char** argv) {
  nexo::mpi::cxx::Environment env(argc, argv);
  auto world = nexo::mpi::cxx::Communicator::world();
  const int total = world.allreduce(world.rank() + 41, MPI_SUM);
  std::printf("hello from %d of %d: %d\n", world.rank(), world.size(), total);
  return total == 41 ? 0 : 1;
}
CPP
"$bin/nexocxx" -std=c++20 -O2 -o "$work/hello" "$work/hello.cpp" || fail "nexocxx could not build hello.cpp"
out=$("$work/hello") || fail "hello exited $?"
[ "$out" = "hello from 0 of 1: 41" ] || fail "hello printed: $out"
NEXO_CC=/nonexistent/cc "$bin/nexocc" -o "$work/x" "$src/tests/mpi/env.c" 2>"$work/err" && fail "a missing compiler must fail"
grep -q "is not installed" "$work/err" || fail "a missing compiler's message: $(cat "$work/err")"
echo "PASS wrappers"

#!/usr/bin/env bash
# cmake --install puts headers, libraries, the nexo tool and a CMake package
# under a prefix; a separate project then finds it with find_package(nexo),
# links every layer's library (nexo::base, net, io, fault, reliable, msg, wire)
# and uses each one. Headers only tests use are not installed.
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
source=${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
readonly layers=(base net io fault reliable msg wire)

cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
for f in bin/nexo bin/nexorun include/nexo/net/udp_socket.hpp include/nexo/base/result.hpp \
         "$libdir/cmake/nexo/nexoConfig.cmake" "$libdir/cmake/nexo/nexoTargets.cmake"; do
  [[ -e $work/prefix/$f ]] || fail "$f was not installed"
done
for layer in "${layers[@]}"; do
  [[ -e $work/prefix/$libdir/libnexo_$layer.a ]] || fail "the $layer library was not installed"
  ls "$work/prefix/include/nexo/$layer/"*.hpp >/dev/null 2>&1 || fail "no $layer headers were installed"
done
if find "$work/prefix/include" -name '*_test*' | grep -q .; then
  fail "test sources were installed"
fi
for f in include/nexo/msg/conformance.hpp include/nexo/wire/shortest_table_gen.hpp \
         include/nexo/reliable/host_test_world.hpp; do
  [[ ! -e $work/prefix/$f ]] || fail "$f is for tests only, but was installed"
done
"$work/prefix/bin/nexo" resolve 127.0.0.1 | grep -qx 127.0.0.1 || fail "installed nexo does not run"
[[ $("$work/prefix/bin/nexorun" --help) == "usage: nexorun"* ]] || fail "installed nexorun does not run"

cmake -S "$source/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")" >/dev/null
cmake --build "$work/consumer" >/dev/null || fail "the consumer did not build against the installed package"
output=$("$work/consumer/consumer") || fail "the consumer failed: $output"
echo "$output"
for layer in "${layers[@]}"; do  # each layer reported its own line: it ran
  grep -Eq "^([a-z]+, )*$layer(, [a-z]+)*: " <<<"$output" || fail "the consumer did not use $layer"
done
echo "install: 1 passed, 0 failed"

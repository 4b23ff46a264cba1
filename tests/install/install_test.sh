#!/usr/bin/env bash
# cmake --install puts headers, libraries, the nexo tool and a CMake package
# under a prefix; a separate project then finds it with find_package(nexo).
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
source=${2:?usage: install_test.sh BUILD_DIR SOURCE_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
for f in bin/nexo include/nexo/net/udp_socket.hpp include/nexo/base/result.hpp \
         lib/cmake/nexo/nexoConfig.cmake lib/cmake/nexo/nexoTargets.cmake; do
  [[ -e $work/prefix/$f ]] || { echo "FAIL: $f was not installed"; exit 1; }
done
if find "$work/prefix/include" -name '*_test*' | grep -q .; then
  echo "FAIL: test sources were installed"; exit 1
fi
"$work/prefix/bin/nexo" resolve 127.0.0.1 | grep -qx 127.0.0.1 || { echo "FAIL: installed nexo does not run"; exit 1; }
cmake -S "$source/tests/install/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
echo "install: 1 passed, 0 failed"

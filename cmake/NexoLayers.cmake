# The layers of DESIGN.md, bottom first. A layer may link only layers that come
# before it in this list; nexo_add_layer() refuses anything else at configure time,
# so an upward dependency is a build error rather than a code-review finding.
# `base` is the shared vocabulary (Error, Result) under every layer, wire/ included.
set(NEXO_LAYERS base net io fault reliable msg wire group overlay mpi)

# Warnings and sanitizers for every nexo target (libraries, tools, tests).
function(nexo_target_defaults target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                                             -Wold-style-cast -Wcast-align -Woverloaded-virtual)
    if(NEXO_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
        # GCC 12 warns falsely about std::string concatenation at -O2 and above (GCC bug
        # 105329 for -Wrestrict; -Warray-bounds, "forming offset [32, 33] is out of the
        # bounds [0, 32]", when inlining changes, as with the tests' precompiled header).
        target_compile_options(${target} PRIVATE -Wno-error=restrict -Wno-error=array-bounds)
      endif()
    endif()
  endif()
  if(NEXO_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${NEXO_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${NEXO_SANITIZE})
  endif()
endfunction()

# nexo_add_layer(<layer> SOURCES ... [DEPS <lower layers>...] [LIBS <external libs>...])
# Creates the library target nexo_<layer> (exported as nexo::<layer>).
function(nexo_add_layer layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  list(FIND NEXO_LAYERS ${layer} self_index)
  if(self_index EQUAL -1)
    message(FATAL_ERROR "nexo_add_layer: '${layer}' is not a layer of DESIGN.md (${NEXO_LAYERS})")
  endif()
  foreach(dep IN LISTS ARG_DEPS)
    list(FIND NEXO_LAYERS ${dep} dep_index)
    if(dep_index EQUAL -1 OR NOT dep_index LESS self_index)
      message(FATAL_ERROR "layer '${layer}' may not depend on '${dep}': "
                          "a layer links only the layers below it (${NEXO_LAYERS})")
    endif()
  endforeach()
  set(target nexo_${layer})
  add_library(${target} ${ARG_SOURCES})
  add_library(nexo::${layer} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${layer} OUTPUT_NAME nexo_${layer}
                                             POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${target} PUBLIC cxx_std_20)
  list(TRANSFORM ARG_DEPS PREPEND nexo_ OUTPUT_VARIABLE dep_targets)
  target_link_libraries(${target} PUBLIC ${dep_targets} ${ARG_LIBS})
  nexo_target_defaults(${target})
  if(NEXO_SANITIZE)
    # A sanitized library needs the sanitizer runtime wherever it is linked,
    # including in projects that find the installed package.
    target_link_options(${target} INTERFACE -fsanitize=${NEXO_SANITIZE})
  endif()
  set_property(GLOBAL APPEND PROPERTY NEXO_INSTALLED_TARGETS ${target})
endfunction()

# The headers every test TU parses first (GoogleTest, GoogleMock, the standard library),
# precompiled once per build and reused by every nexo_add_gtest() target: they were
# most of a test TU's compile time (clang: 5.6 s of parsing for gtest+gmock alone, 1.4 s
# with the PCH), and CI compiles each test three times (release, ASan, TSan). The PCH
# target has the flags of a test target (warnings, sanitizers, NEXO_SANITIZED, C++20),
# as reusing it requires; a test that adds its own definitions still may.
function(nexo_gtest_pch)
  if(TARGET nexo_gtest_pch)
    return()
  endif()
  set(source ${CMAKE_BINARY_DIR}/nexo_gtest_pch.cpp)
  file(CONFIGURE OUTPUT ${source} CONTENT "// The translation unit that builds the tests' PCH.\n")
  add_library(nexo_gtest_pch OBJECT ${source})
  target_link_libraries(nexo_gtest_pch PRIVATE GTest::gtest GTest::gmock)
  target_compile_features(nexo_gtest_pch PRIVATE cxx_std_20)
  nexo_target_defaults(nexo_gtest_pch)
  if(NEXO_SANITIZE)
    target_compile_definitions(nexo_gtest_pch PRIVATE NEXO_SANITIZED=1)
  endif()
  target_precompile_headers(nexo_gtest_pch PRIVATE
    <gtest/gtest.h> <gmock/gmock.h>
    <algorithm> <array> <atomic> <chrono> <cstdint> <cstring> <functional> <map>
    <memory> <optional> <span> <string> <string_view> <thread> <vector>)
endfunction()

# nexo_add_gtest(<name> SOURCES ... LIBS ... LABEL <label> [TIMEOUT s] [NO_MAIN])
# One GoogleTest binary; every test in it becomes a ctest test with the label and
# timeout. One label per binary: gtest_discover_tests flattens a list of labels.
# Labels: unit (no sockets), loopback, netns, fault, interop, slow.
function(nexo_add_gtest name)
  cmake_parse_arguments(ARG "NO_MAIN" "TIMEOUT;LABEL" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  nexo_gtest_pch()
  target_precompile_headers(${name} REUSE_FROM nexo_gtest_pch)
  if(ARG_NO_MAIN)
    target_link_libraries(${name} PRIVATE GTest::gtest GTest::gmock ${ARG_LIBS})
  else()
    target_link_libraries(${name} PRIVATE GTest::gtest_main GTest::gmock ${ARG_LIBS})
  endif()
  nexo_target_defaults(${name})
  if(NEXO_SANITIZE)
    # A sanitizer slows a run several times over and checks memory and threads,
    # not the protocol: the long seeded simulations run fewer seeds under it (the
    # release build runs them all). Tests read it through NEXO_SANITIZED.
    target_compile_definitions(${name} PRIVATE NEXO_SANITIZED=1)
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()

# The flags of every libFuzzer target's objects and link. -fsanitize=fuzzer at compile
# time only instruments (as fuzzer-no-link does); the link adds libFuzzer's main().
set(NEXO_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer)

# nexo_add_fuzz_objects(<name> SOURCES ...)
# Sources that several fuzz targets compile in (wire/'s buffer, decoder and examples,
# base's Error), compiled once with the fuzzers' flags as an object library that
# nexo_add_fuzzer(... OBJECTS <name>) links, rather than once per target: the fuzz
# stage of CI builds them from scratch. Nothing without NEXO_FUZZ and clang.
function(nexo_add_fuzz_objects name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(NOT NEXO_FUZZ OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    return()
  endif()
  add_library(${name} OBJECT EXCLUDE_FROM_ALL ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  nexo_target_defaults(${name})
  target_compile_options(${name} PRIVATE ${NEXO_FUZZ_FLAGS})
endfunction()

# nexo_add_fuzzer(<name> SOURCES ... [OBJECTS <nexo_add_fuzz_objects names>...])
# A libFuzzer target (clang, NEXO_FUZZ=ON; nothing otherwise), built by the target
# `nexo_fuzzers`. The sources it tests are compiled into it (or come from OBJECTS,
# compiled with the same flags), so that libFuzzer sees their coverage. Its kept,
# crash-free corpus is fuzz/corpus/<name>/ (scripts/fuzz).
function(nexo_add_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;OBJECTS" ${ARGN})
  if(NOT NEXO_FUZZ OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  nexo_target_defaults(${name})
  target_compile_options(${name} PRIVATE ${NEXO_FUZZ_FLAGS})
  target_link_options(${name} PRIVATE ${NEXO_FUZZ_FLAGS})
  # An object library linked directly puts its objects into the executable.
  target_link_libraries(${name} PRIVATE ${ARG_OBJECTS})
  add_dependencies(nexo_fuzzers ${name})
endfunction()

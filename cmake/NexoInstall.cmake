# `cmake --install` puts headers, libraries, the nexo tool and a CMake package
# (find_package(nexo) → nexo::base, nexo::net, ...) under the prefix.
include(CMakePackageConfigHelpers)

get_property(nexo_targets GLOBAL PROPERTY NEXO_INSTALLED_TARGETS)
install(TARGETS ${nexo_targets} EXPORT nexoTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Headers of tests only stay out: tests' sources and data, the conformance
# suite's fixture (msg/conformance.hpp) and the generator the shortest-float
# test recomputes its table with (wire/shortest_table_gen.hpp), the group
# Endpoint simulation tests' support (group/endpoint_sim_support.hpp).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/nexo DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*_test*" EXCLUDE PATTERN "testdata" EXCLUDE
        PATTERN "socket_ops.hpp" EXCLUDE PATTERN "conformance.hpp" EXCLUDE
        PATTERN "shortest_table_gen.hpp" EXCLUDE PATTERN "endpoint_sim_support.hpp" EXCLUDE)
install(TARGETS nexo_tool RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(nexo_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/nexo)
install(EXPORT nexoTargets NAMESPACE nexo:: DESTINATION ${nexo_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/nexoConfig.cmake.in
  ${PROJECT_BINARY_DIR}/nexoConfig.cmake INSTALL_DESTINATION ${nexo_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nexoConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nexoConfig.cmake ${PROJECT_BINARY_DIR}/nexoConfigVersion.cmake
        DESTINATION ${nexo_cmake_dir})

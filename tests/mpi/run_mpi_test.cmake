# Runs one MPI test job and judges it by its exit status (and, for a program that passes, its one
# "PASS <name>" line on stdout):
#   cmake -DEXPECT_STATUS=<n> [-DEXPECT_PASS=<name>] -P run_mpi_test.cmake -- <launcher> <args...>
# The job's stdout and stderr are passed through as they come. A launcher killed by a signal, an
# unexpected status, or a PASS line missing or repeated is a failure that says which.
cmake_minimum_required(VERSION 3.25)

set(command "")
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()
if(NOT command OR NOT DEFINED EXPECT_STATUS)
  message(FATAL_ERROR "usage: cmake -DEXPECT_STATUS=<n> [-DEXPECT_PASS=<name>] "
                      "-P run_mpi_test.cmake -- <launcher> <args...>")
endif()

list(JOIN command " " command_line)
message(STATUS "run: ${command_line}")
execute_process(COMMAND ${command}
                RESULT_VARIABLE status
                OUTPUT_VARIABLE output ECHO_OUTPUT_VARIABLE
                ERROR_VARIABLE errors ECHO_ERROR_VARIABLE)

if(NOT status STREQUAL "${EXPECT_STATUS}")
  message(FATAL_ERROR "the job ended with status '${status}', expected ${EXPECT_STATUS}: ${command_line}")
endif()
if(DEFINED EXPECT_PASS)
  string(REGEX MATCHALL "(^|\n)PASS ${EXPECT_PASS}\n" passes "${output}")
  list(LENGTH passes pass_count)
  if(NOT pass_count EQUAL 1)
    message(FATAL_ERROR "the job exited ${status} but printed 'PASS ${EXPECT_PASS}' ${pass_count} "
                        "times, expected once (rank 0 prints it after every rank's checks)")
  endif()
endif()

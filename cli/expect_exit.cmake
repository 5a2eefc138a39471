# cmake -DEXPECT=<code> -DARGS=<;-list> -DTOOL=<path> -P expect_exit.cmake: runs the tool and fails
# unless it exits with exactly that code (a crash gives a non-numeric result and fails too).
execute_process(COMMAND ${TOOL} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT "${rc}" STREQUAL "${EXPECT}")
  message(FATAL_ERROR "lipflow ${ARGS}: exit ${rc}, expected ${EXPECT}\nstdout: ${out}\nstderr: ${err}")
endif()
message(STATUS "lipflow ${ARGS}: exit ${rc} as expected; stderr: ${err}")

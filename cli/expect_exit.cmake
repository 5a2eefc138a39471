# cmake -DEXPECT=<code> -DARGS=<;-list> -DTOOL=<path> [-DTEXT=<substring>] -P expect_exit.cmake: runs the
# tool and fails unless it exits with exactly that code (a crash gives a non-numeric result and fails
# too) and, when TEXT is given, its stderr contains TEXT (the field an error must name).
execute_process(COMMAND ${TOOL} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT "${rc}" STREQUAL "${EXPECT}")
  message(FATAL_ERROR "lipflow ${ARGS}: exit ${rc}, expected ${EXPECT}\nstdout: ${out}\nstderr: ${err}")
endif()
if(DEFINED TEXT AND NOT "${TEXT}" STREQUAL "")
  string(FIND "${err}" "${TEXT}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "lipflow ${ARGS}: stderr does not name '${TEXT}'\nstderr: ${err}")
  endif()
endif()
message(STATUS "lipflow ${ARGS}: exit ${rc} as expected; stderr: ${err}")

# Runs a training example and checks what it printed. RUN: the command (an emulator first, if any).
# Passes when it exits with 0 and its summary line "loss <first> -> <last> ..." shows last < first.
execute_process(COMMAND ${RUN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE code)
message("${out}${err}")
if(NOT code STREQUAL "0")
  message(FATAL_ERROR "exit code ${code} (expected 0)")
endif()
if(NOT out MATCHES "loss ([0-9.eE+-]+) -> ([0-9.eE+-]+)")
  message(FATAL_ERROR "no line 'loss <first> -> <last>' in the output")
endif()
if(NOT CMAKE_MATCH_2 LESS CMAKE_MATCH_1)
  message(FATAL_ERROR "the loss did not decrease: ${CMAKE_MATCH_1} -> ${CMAKE_MATCH_2}")
endif()

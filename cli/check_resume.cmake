# cmake -DTOOL=<path> -DCONFIG=<config.json> -DOUT=<dir> -P check_resume.cmake: trains the config with a
# checkpoint every 300 steps, then resumes a second run from that checkpoint: both exit 0 and end with
# the same training and test losses and Lipschitz bound (the summary row of result.json), bit for bit.
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
set(ck ${OUT}/run.ckpt)
execute_process(COMMAND ${TOOL} run ${CONFIG} --checkpoint ${ck} --checkpoint-every 300 --out ${OUT}/whole
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run with checkpoints: exit ${rc}\n${out}\n${err}")
endif()
if(NOT EXISTS ${ck} OR EXISTS ${ck}.tmp)
  message(FATAL_ERROR "no checkpoint at ${ck}, or a temporary file left behind")
endif()
execute_process(COMMAND ${TOOL} run ${CONFIG} --resume ${ck} --out ${OUT}/resumed
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "resumed run: exit ${rc}\n${out}\n${err}")
endif()
file(READ ${OUT}/whole/result.json a)
file(READ ${OUT}/resumed/result.json b)
foreach(column 0 1 2 4)  # steps, train_loss, test_loss, lipschitz_global
  string(JSON x GET "${a}" summary 0 values ${column})
  string(JSON y GET "${b}" summary 0 values ${column})
  if(NOT x STREQUAL y)
    message(FATAL_ERROR "summary column ${column}: ${x} uninterrupted, ${y} resumed")
  endif()
endforeach()

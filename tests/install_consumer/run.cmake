# The install test: installs lipflow from the build tree BUILD into a fresh prefix under WORK, then
# configures, builds and runs the consumer project in SOURCE against that prefix only.
# Inputs: BUILD, SOURCE, WORK, GENERATOR, CXX (the compiler the library was built with).
file(REMOVE_RECURSE ${WORK})
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT code STREQUAL "0")
    message(FATAL_ERROR "${what} failed (${code}):\n${out}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()
step("install" ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
step("configure" ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release
     -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
if(NOT output MATCHES "from ${WORK}/prefix/")
  message(FATAL_ERROR "the package was not found in the test prefix:\n${output}")
endif()
string(REGEX MATCH "lipflow [^\n]*" found "${output}")
message("${found}")
step("build" ${CMAKE_COMMAND} --build ${WORK}/build)
step("run" ${WORK}/build/consumer)
message("${output}")

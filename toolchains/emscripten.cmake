# WebAssembly through Debian's Emscripten (3.1.6). Facts this file relies on:
# - emcc needs NODE_PATH=/usr/share/nodejs (else a missing `acorn`); the presets set it, and so
#   does this file for the configure step.
# - Node 20 must run the output with --no-experimental-fetch (else it fetches the .wasm by URL).
# - SIMD128 comes from -msimd128 -msse2 (set by LIPFLOW_SIMD=sse2): Emscripten lowers SSE2 to
#   SIMD128 and xsimd uses its sse2 batches.
set(ENV{NODE_PATH} "/usr/share/nodejs")
if(EXISTS "/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake")
  include("/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake")
else()
  message(FATAL_ERROR "Debian's emscripten package is missing: run scripts/setup.sh")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "node;--no-experimental-fetch" CACHE STRING "" FORCE)
# The link step runs emcc's JS optimizer (acorn), so it needs NODE_PATH too. The presets set it, but
# `cmake --build build/wasm` from a plain shell would not: the linker launcher sets it on every link.
if(NOT DEFINED CMAKE_CXX_LINKER_LAUNCHER)
  set(CMAKE_C_LINKER_LAUNCHER "${CMAKE_COMMAND};-E;env;NODE_PATH=/usr/share/nodejs")
  set(CMAKE_CXX_LINKER_LAUNCHER "${CMAKE_COMMAND};-E;env;NODE_PATH=/usr/share/nodejs")
endif()

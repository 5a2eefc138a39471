# Bare-metal Cortex-M4F with Debian's gcc-arm-none-eabi and newlib (libstdc++-arm-none-eabi-newlib).
# Builds the embeddable layers (core, nn, optim, analysis) with the scalar kernels, and the example
# firmware, which ctest runs under qemu-system-arm on an MPS2 AN386 board (a Cortex-M4) with
# semihosting: the firmware prints through the host's stdout and its exit code ends qemu.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
# No host program can be linked without a startup file and a linker script: try-compile a library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# The scalar kernels (LIPFLOW_SIMD=scalar) include no xsimd header: xsimd 8.1 has no architecture
# for this core, and its headers compile on newlib only with -D_POSIX_C_SOURCE=200809L (for
# posix_memalign), which code of your own that includes them must add.

# Hard-float ABI with the single-precision FPU; no exceptions or RTTI anywhere; one section per
# function and object so that the linker drops what the firmware does not call.
set(_cpu "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard")
set(CMAKE_C_FLAGS_INIT "${_cpu} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${_cpu} -ffunction-sections -fdata-sections -fno-exceptions -fno-rtti")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--gc-sections")
# The cortex-m4 preset builds MinSizeRel (-Os): flash is the budget (text <= 96 KiB for the example).

set(CMAKE_FIND_ROOT_PATH /usr/lib/arm-none-eabi)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs a firmware as `<emulator> <firmware.elf>`: qemu loads it as the board's kernel.
set(CMAKE_CROSSCOMPILING_EMULATOR
    "qemu-system-arm;-M;mps2-an386;-nographic;-monitor;none;-serial;none;-semihosting-config;enable=on,target=native;-kernel"
    CACHE STRING "" FORCE)

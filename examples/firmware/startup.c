/* Start-up code of the example firmware on a Cortex-M4F (the MPS2 AN386 board, as qemu emulates it).
 *
 * The vector table; a reset handler that enables the FPU, copies .data, zeroes .bss, paints the stack,
 * opens semihosting (printf goes to the host's stdout), runs the C++ constructors and main(), and
 * exits with main's code (through semihosting, which ends qemu with that code); before exiting it
 * reports the stack the program used (the deepest painted word overwritten) and the heap the C library
 * took (printf's number conversion allocates; lipflow does not). Any fault exits with code 3, a
 * stack used to its last word with code 4. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;
extern char end; /* first byte of the heap */
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern void* _sbrk(ptrdiff_t increment);
extern int main(void);

/* __libc_init_array calls _init and exit calls _fini: there is nothing to run in either. The C++
 * runtime registers static destructors against __dso_handle, which the skipped crtbegin.o defines. */
void _init(void) {}
void _fini(void) {}
void* __dso_handle = 0;

#define PAINT 0xC5C5C5C5u

static void fault_handler(void) {
  static const char message[] = "firmware: fault\n";
  write(2, message, sizeof message - 1);
  _exit(3);
}

void reset_handler(void) {
  /* CPACR: full access to the coprocessors CP10 and CP11 (the FPU) before any floating-point code. */
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm volatile("dsb\n\tisb" ::: "memory");

  memcpy(&__data_start__, &__data_load__, (size_t)((char*)&__data_end__ - (char*)&__data_start__));
  memset(&__bss_start__, 0, (size_t)((char*)&__bss_end__ - (char*)&__bss_start__));
  /* Paint the stack below this function's frame, to measure how deep the program goes. */
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t* p = &__stack_limit__; p < sp - 16; ++p) *p = PAINT;

  initialise_monitor_handles();
  __libc_init_array();
  const int code = main();

  const uint32_t* p = &__stack_limit__;
  while (p < &__stack_top__ && *p == PAINT) ++p;
  printf("firmware: stack used %u of %u bytes, C library heap %u bytes\n",
         (unsigned)((char*)&__stack_top__ - (const char*)p),
         (unsigned)((char*)&__stack_top__ - (char*)&__stack_limit__), (unsigned)((char*)_sbrk(0) - &end));
  if (p == &__stack_limit__) { /* the last word of the stack was written: it may have overflowed */
    printf("firmware: stack exhausted\n");
    exit(4);
  }
  exit(code);
}

typedef void (*handler)(void);

/* The Cortex-M vector table at address 0: the initial stack pointer, then the exception handlers. */
__attribute__((section(".vectors"), used)) static const handler vectors[16] = {
    (handler)&__stack_top__, reset_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    fault_handler,           0,             0,             0,             0,             fault_handler,
    fault_handler,           0,             fault_handler, fault_handler,
};

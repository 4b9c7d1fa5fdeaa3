// Counts the heap allocations of the calling thread. Linked into the harness executable only: its malloc family
// interposes the C library's for the whole process (each call still goes to glibc's allocator) and adds one to a
// thread-local counter.
#ifndef FEEDLOOP_ALLOCATION_COUNTER_H
#define FEEDLOOP_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) by this thread so far.
uint64_t feedloop_thread_allocations(void);
/// 1 where the counting allocator is in place (glibc), else 0.
int feedloop_allocation_counting_available(void);

#endif

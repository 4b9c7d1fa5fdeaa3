// glibc's allocator tunables (mallopt, M_MMAP_THRESHOLD), which Swift's Glibc module does not export.
// Empty where there is no <malloc.h> (macOS).
#if defined(__linux__) && __has_include(<malloc.h>)
#include <malloc.h>
#endif

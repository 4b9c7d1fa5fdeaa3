#ifndef FEEDLOOP_CRC32C_H
#define FEEDLOOP_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this processor computes CRC-32C in hardware (x86-64 SSE4.2, AArch64 CRC32), else 0.
int feedloop_crc32c_hardware(void);

/// Continues a raw (pre-inversion) CRC-32C register over `count` bytes, in hardware. Only call when
/// feedloop_crc32c_hardware() returned 1.
uint32_t feedloop_crc32c_update(uint32_t crc, const void *bytes, size_t count);

#endif

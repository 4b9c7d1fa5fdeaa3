#include <zlib.h>

// inflateInit2 and deflateInit2 are macros (they pass the library version and the stream's size); Swift sees
// functions only. 15 + 16: a 32 KiB window, gzip framing (header and CRC-32 trailer), not zlib's.
static inline int feedloop_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}

static inline int feedloop_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

// MARK: - Prefetch

/// LLVM's `llvm.prefetch` intrinsic (lowered to `prefetcht0` on x86-64, `prfm` on AArch64): a hint, never a fault,
/// so any address is allowed. Swift has no spelling for it; binding the intrinsic's name is the standard workaround.
@_silgen_name("llvm.prefetch.p0")
@usableFromInline
func _llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ cacheType: Int32)

/// Asks the CPU to bring the cache line holding `address` into all cache levels (for reading). Compiled out with
/// `-DFEEDLOOP_NO_PREFETCH`: the thread sanitizer's build (`--sanitize=thread`) makes the call an `invoke`, which
/// LLVM refuses for this intrinsic (the compiler aborts); a hint changes no result.
@inlinable @inline(__always)
func prefetch(_ address: UnsafeRawPointer) {
    #if !FEEDLOOP_NO_PREFETCH
    _llvmPrefetch(address, 0, 3, 1)
    #endif
}

"""Keep freed memory for reuse: one call to glibc's `mallopt`, made once when autograd loads.

Training allocates and frees the same large arrays every step. By default glibc hands
every freed block above its mmap threshold (128 kB, raised on the fly up to 32 MiB) back
to the kernel, so the next array of that size starts on fresh pages that the kernel must
zero on first touch (about 1 ms per 4 MiB; see `man 3 mallopt`, M_MMAP_THRESHOLD and
M_TRIM_THRESHOLD). A training step that allocates hundreds of MB of activations pays that
every step. Raising both thresholds lets malloc reuse the freed blocks instead, which is
what PyTorch's caching allocator does for its own memory.

The price is that up to 1 GiB of freed memory stays with the process instead of going
back to the system. On a C library without `mallopt` (macOS, musl) this is a no-op; the
GPU is unaffected (CuPy has its own memory pool).
"""
import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # the parameter numbers of glibc's malloc.h


def keep_freed_memory():
    """Ask glibc to mmap only blocks above 64 MiB and to keep up to 1 GiB of freed heap."""
    try:
        libc = ctypes.CDLL('libc.so.6')
        libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass

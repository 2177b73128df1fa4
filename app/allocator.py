"""glibc malloc's thresholds for a server that takes request bodies of up to ``max_body_bytes``.

glibc gives a block of at least ``M_MMAP_THRESHOLD`` bytes its own mapping, unmapped when freed.
By default the threshold rises to the size of the largest such block freed (up to 32 MiB) and the
heap keeps up to twice that free before trimming: after one 10 MB prompt, the next large ones
come from the heap and about 20 MB stay resident once they are freed (bench/FINDINGS.md, section
13). Fixed thresholds turn that adjustment off, so large buffers are mapped and returned again.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Above the 256 KiB buffer asyncio's transports allocate for every socket read, which stays on
# the heap (a mapping per read would be two system calls per read).
MMAP_THRESHOLD_BYTES = 1024 * 1024
# Free space at the top of the heap kept for the next reads instead of trimmed and grown again.
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES


def fix_malloc_thresholds() -> bool:
    """Set both thresholds; False where the C library is not glibc (nothing is changed)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    # The process's own symbols, glibc's among them (no ldconfig run to find the library).
    libc = ctypes.CDLL(None)
    mmap_set = int(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    trim_set = int(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return mmap_set == 1 and trim_set == 1

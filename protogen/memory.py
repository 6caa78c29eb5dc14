"""One memory guard for every size protogen takes from a request or from a file's own claims.

Solvers check their peak-memory estimate against it; file readers check the sizes that a
file's headers declare (HDF5 dataset shapes, .npy headers) before reading any array, so that a
file claiming 10^9 rows is refused with one line instead of failing in the allocator, or, on a
machine that overcommits memory, being killed later.
"""

from __future__ import annotations

import os

from protogen.errors import ResourceError

# Share of physical memory one request may claim: the rest is for Python, torch and copies.
MEMORY_FRACTION = 0.8


def available_memory_bytes() -> int:
    """Physical memory of this machine (what a solve or a file may at most use)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


def check_fits(nbytes: int, what: str) -> None:
    """Raise ``ResourceError`` when ``nbytes`` exceeds :data:`MEMORY_FRACTION` of memory."""
    have = available_memory_bytes()
    if nbytes > MEMORY_FRACTION * have:
        raise ResourceError(f"{what} needs about {nbytes / 2**30:.1f} GiB, more than this "
                            f"machine's {have / 2**30:.1f} GiB allows")

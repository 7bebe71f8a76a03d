"""The process's resident memory, read where the kernel reports it."""

from __future__ import annotations


def resident_bytes() -> int | None:
    """This process's resident set size now (``VmRSS`` of ``/proc/self/status``); None where there is no
    such file (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None

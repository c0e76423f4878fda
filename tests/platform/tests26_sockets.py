"""This process's open TCP connections to a port, read from /proc (task
tests26): what a leak of sockets shows as."""

import os
from pathlib import Path

HAS_PROC = Path("/proc/self/fd").exists()


def sockets_to(port: int) -> int:
    """Descriptors of this process on a connection to ``port`` (any
    state: one the peer hung up on still holds its descriptor)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        count += target.startswith("socket:[") and target[8:-1] in inodes
    return count

"""CPU time and context switches of a set of processes, from Linux's /proc.

Throughput alone cannot say where a request's time went on a shared 2-core
box; per-request CPU by process group (gunicorn workers, PostgreSQL backends,
load generators) can. ``schedstat`` is the scheduler's own run time in
nanoseconds (user and kernel), not a tick sample. Elsewhere than Linux
``available()`` is False and the bench prints none of it.
"""

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    switches: int


def available() -> bool:
    return (PROC / str(os.getpid()) / "schedstat").exists()


Snapshot = dict[int, Usage]


def snapshot(pids: list[int]) -> Snapshot:
    """Run time and context switches of each of ``pids``, over all its
    threads (a process gone before it is read is left out)."""
    out = {}
    for pid in pids:
        cpu_ns = switches = 0
        for task in _tasks(pid):
            try:
                cpu_ns += int((task / "schedstat").read_text().split()[0])
                switches += _switches((task / "status").read_text())
            except (OSError, ValueError, IndexError):
                continue  # the thread ended between the listing and the read
        out[pid] = Usage(cpu_ns / 1e9, switches)
    return out


def spent(before: Snapshot, after: Snapshot) -> Usage:
    """What the processes used between two snapshots; one started in between
    counts from zero, one that ended in between loses its last part."""
    total = Usage(0.0, 0)
    for pid, now in after.items():
        total = Usage(
            total.cpu_seconds + now.cpu_seconds - before.get(pid, _ZERO).cpu_seconds,
            total.switches + now.switches - before.get(pid, _ZERO).switches,
        )
    return total


_ZERO = Usage(0.0, 0)


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (a gunicorn master's workers)."""
    return [p for p, (parent, _name) in _processes().items() if parent == pid]


def named(prefix: str) -> list[int]:
    """Processes whose command name starts with ``prefix`` (a PostgreSQL
    server on this machine: its backends, WAL writer and the rest)."""
    return [p for p, (_parent, name) in _processes().items() if name.startswith(prefix)]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name), for every process."""
    out = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        # The name is in parentheses and may hold spaces: fields follow ")".
        name = text[text.index("(") + 1 : text.rindex(")")]
        parent = int(text[text.rindex(")") + 1 :].split()[1])
        out[int(entry.name)] = (parent, name)
    return out


def _tasks(pid: int) -> list[Path]:
    try:
        return list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return []


def _switches(status: str) -> int:
    total = 0
    for line in status.splitlines():
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            total += int(line.split()[1])
    return total

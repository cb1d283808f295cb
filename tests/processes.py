"""What the tests read of the processes they start, safe against a process that ends
while they look."""

from __future__ import annotations

import psutil


def command_line(process: psutil.Process) -> str:
    """The process's command line, or "" once it has ended: a killed child stays a zombie
    until its parent reaps it, and psutil refuses a zombie's command line."""
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # ZombieProcess included
        return ""

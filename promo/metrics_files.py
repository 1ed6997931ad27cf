"""Where gunicorn workers keep their Prometheus counts: one directory per master process.

prometheus_client's multiprocess mode has every worker write its counts to files in
PROMETHEUS_MULTIPROC_DIR, and /metrics adds up every file there. The directory must be
empty of other servers' files when a server starts, yet a second server started with the
same settings (even one that then fails to bind) must not delete the files of the one
already running: that would leave it reporting a dead process's zeros. So each master
gets its own directory under a shared base, named by its pid; a starting master removes
only the directories of masters that are gone, and a master removes its own on exit.
Within a master's directory, gunicorn's child_exit hook drops a dead worker's live
gauges (its counters stay, so totals do not fall when a worker is replaced).

Nothing here imports prometheus_client: the variable must be set before anything does,
as forked workers inherit the master's modules.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "master-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process: alive
        return True
    return True


def master_directory(base: Path, pid: int) -> Path:
    return base / f"{PREFIX}{pid}"


def remove_dead_masters(base: Path) -> list[Path]:
    """Delete the directories of masters that no longer run; return them."""
    removed = []
    for entry in base.glob(f"{PREFIX}*"):
        pid = entry.name[len(PREFIX):]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def prepare(base: Path, pid: int | None = None) -> Path:
    """Make this master's directory under ``base`` (after clearing dead masters'), set
    PROMETHEUS_MULTIPROC_DIR to it and return it.

    gunicorn re-reads its config on SIGHUP in the same master: the directory it set the
    first time is kept, with the counts in it.
    """
    pid = os.getpid() if pid is None else pid
    mine = master_directory(base, pid)
    current = os.environ.get(ENV)
    if current and Path(current) == mine:
        return mine
    base.mkdir(parents=True, exist_ok=True)
    remove_dead_masters(base)
    mine.mkdir(exist_ok=True)
    os.environ[ENV] = str(mine)
    return mine


def base_directory(bind: str, tmp: str) -> Path:
    """The shared base: PROMETHEUS_MULTIPROC_DIR as given (or, already set by this master
    on an earlier read of the config, its parent), else one per bind address in ``tmp``."""
    given = os.environ.get(ENV)
    if given:
        path = Path(given)
        return path.parent if path.name == f"{PREFIX}{os.getpid()}" else path
    return Path(tmp) / f"promo-metrics-{bind.replace(':', '-').replace('/', '_')}"


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)

"""Worker processes that may die: finished work is kept, unfinished work retried, a culprit isolated.

A worker that dies (killed, out of memory, a crash in native code) breaks a ``ProcessPoolExecutor``: every
unfinished task fails with ``BrokenProcessPool``, and the pool cannot tell which task killed it. So: the
unfinished tasks are retried once in a fresh pool; those that break that one too run alone, one per fresh
one-worker pool, where a death can only be the task's own. Such a task is reported as a
:class:`WorkerDied` result, and the rest complete. An ordinary Python exception inside a task is not a
death: it propagates (it is a bug or a bad input, and should say so).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

CRASH_VAR = "ESPER_INJECT_WORKER_CRASH"
"""Fault injection for tests: a task whose ``crash_tag`` equals this variable's value ends its worker
process at once (``os._exit``), as a crash would."""


@dataclass(frozen=True)
class WorkerDied:
    """The task's worker process died, also when the task ran alone."""

    task: Any
    message: str = "its worker process died (killed, out of memory, or crashed); it ran alone and died again"


def maybe_crash(tag: str) -> None:
    """Fault injection (see :data:`CRASH_VAR`)."""
    if os.environ.get(CRASH_VAR) == tag:
        os._exit(70)


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int) -> Iterator[tuple[Any, Any]]:
    """Yield ``(task, fn(task))`` as tasks finish, in worker processes; a task whose worker died
    every time yields ``(task, WorkerDied(task))``. Ctrl-C or an exception drops the queued tasks."""
    pending = list(tasks)
    for _ in range(2):  # a first try, then one retry of the unfinished tasks in a fresh pool
        if not pending:
            return
        broken: list = []
        yield from _round(fn, pending, workers, broken)
        pending = broken
    for task in pending:  # alone: a death now is the task's own
        died: list = []
        yield from _round(fn, [task], 1, died)
        if died:
            yield task, WorkerDied(task)


PRELOAD = ["torch", "gymnasium", "esper_env", "agents.compare.execute"]
"""Imported once by the fork server; every worker is forked from it with them loaded (a spawned worker spent
~2.5 s of CPU importing torch, once per worker of every pool)."""


def _context():
    """Workers fork from a server process that has the heavy modules loaded and has run no torch op (no thread
    pools to inherit); unlike ``fork``, nothing of the calling process's state is copied."""
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _in_callers_environment(fn: Callable[[Any], Any], task: Any, environ: dict[str, str]) -> Any:
    """Run ``fn(task)`` with the calling process's environment as it was at submission (a worker forked from the
    server would otherwise see the server's, from when it started)."""
    os.environ.clear()
    os.environ.update(environ)
    return fn(task)


def _round(fn, tasks: list, workers: int, broken: list) -> Iterator[tuple[Any, Any]]:
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))), mp_context=_context())
    try:
        environ = dict(os.environ)
        futures = {pool.submit(_in_callers_environment, fn, t, environ): t for t in tasks}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                broken.append(futures[fut])
                continue
            yield futures[fut], result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

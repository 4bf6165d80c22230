"""Worker processes (or Ray tasks) that may die: finished work is kept, unfinished work retried, a culprit isolated.

A worker that dies (killed, out of memory, a crash in native code) breaks a ``ProcessPoolExecutor``: every
unfinished task fails with ``BrokenProcessPool``, and the pool cannot tell which task killed it. So: the
unfinished tasks are retried once in a fresh pool; those that break that one too run alone, one per fresh
one-worker pool, where a death can only be the task's own. Such a task is reported as a
:class:`WorkerDied` result, and the rest complete. An ordinary Python exception inside a task is not a
death: it propagates (it is a bug or a bad input, and should say so).

With ``executor="ray"`` the same tasks go to a Ray cluster (``$RAY_ADDRESS``) or a local Ray instance with
``workers`` CPUs, one CPU per task; Ray retries a task whose worker process died once, and a second death is
reported as :class:`WorkerDied`. Every task sets its own torch threads and seeds, so a result does not depend on
where it ran.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

EXECUTORS = ("process", "ray")
"""Where tasks run: local worker processes, or a Ray cluster."""

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


INTERRUPT_VAR = "ESPER_INJECT_INTERRUPT"
"""Interrupt injection for tests: ``TAG`` or ``TAG@SIGNAL`` (``SIGINT``, ``SIGTERM``: the default). A command
whose driver reaches the point named ``TAG`` (e.g. ``collect:2``: the second episode saved) sends itself the
signal there, as a user's Ctrl-C or ``kill`` at exactly that moment would: the interrupt lands at a known
point, never in a race with the work."""


def maybe_interrupt(tag: str) -> None:
    """Interrupt injection (see :data:`INTERRUPT_VAR`)."""
    want, _, name = os.environ.get(INTERRUPT_VAR, "").partition("@")
    if want == tag:
        import signal

        os.kill(os.getpid(), getattr(signal, name or "SIGTERM"))


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be 'process' or 'ray', got {executor!r}")
    if executor == "ray":
        _import_ray()


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int,
              executor: str = "process") -> Iterator[tuple[Any, Any]]:
    """Yield ``(task, fn(task))`` as tasks finish, in worker processes (or Ray tasks); a task whose worker died
    every time yields ``(task, WorkerDied(task))``. Ctrl-C or an exception drops the queued tasks."""
    check_executor(executor)
    if executor == "ray":
        yield from _ray_tasks(fn, tasks, workers)
        return
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


PRELOAD = ["torch", "gymnasium", "esper_env", "agents.registry", "agents.policy"]
"""Imported once by the fork server; every worker is forked from it with them loaded (a spawned worker spent
~2.5 s of CPU importing torch, once per worker of every pool)."""


def _context():
    """Workers fork from a server process that has the heavy modules loaded and has run no torch op (no thread
    pools to inherit); unlike ``fork``, nothing of the calling process's state is copied."""
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _in_callers_environment(fn: Callable[[Any], Any], task: Any, environ: dict[str, str], cwd: str) -> Any:
    """Run ``fn(task)`` with the calling process's environment and working folder as they were at submission (a
    worker forked from the server would otherwise see the server's, from when it started)."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    return fn(task)


def _round(fn, tasks: list, workers: int, broken: list) -> Iterator[tuple[Any, Any]]:
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))), mp_context=_context())
    try:
        environ, cwd = dict(os.environ), os.getcwd()
        futures = {pool.submit(_in_callers_environment, fn, t, environ, cwd): t for t in tasks}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except BrokenProcessPool:
                broken.append(futures[fut])
                continue
            yield futures[fut], result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install -c constraints.txt -e '.[ray]'") from None
    return ray


def ray_init(workers: int) -> None:
    """Join the cluster at ``$RAY_ADDRESS``, or start a local Ray instance with ``workers`` CPUs (once per
    process; later calls reuse it)."""
    ray = _import_ray()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if not address:  # Ray runs its workers at niceness 15: beside any other busy process here they would starve
            os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False)


def _call(fn: Callable[[Any], Any], task: Any) -> Any:
    return fn(task)


def _ray_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int) -> Iterator[tuple[Any, Any]]:
    ray = _import_ray()
    ray_init(workers)
    remote = ray.remote(num_cpus=1, max_retries=1)(_call)  # a task whose worker died is retried once
    if CRASH_VAR in os.environ:  # fault injection travels with the task (a Ray worker has its own environment)
        remote = remote.options(runtime_env={"env_vars": {CRASH_VAR: os.environ[CRASH_VAR]}})
    pending = {remote.remote(fn, t): t for t in tasks}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError):
                result = WorkerDied(task)
            yield task, result
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)

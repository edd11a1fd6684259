"""Where cases run: in this process, in a pool of local processes, or on a Dask cluster.

An executor's ``map(fn, tasks, started)`` runs ``fn(task)`` for every task and yields
``(task, result, exception)`` as each finishes, in completion order, so the caller can store results the
moment they exist. Local executors take a task from ``tasks`` only when a worker is free for it (the runner
claims each case as it hands it out), and their worker processes die with the run that started them. ``fn``
and the tasks must be picklable (workers are fresh processes); every worker builds its own registry and
compiles (or loads from numba's cache) its own kernels.
"""

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from sadbench.errors import SadbenchError

_CONNECT_TIMEOUT_S = 20


def _never(task):
    pass


def _worker_start(threads, parent):
    """A worker's set-up: it dies with the run that started it, and gets its share of the cores (numba's
    threads run one case's ensemble in parallel)."""
    import numba

    _die_with(parent)
    numba.set_num_threads(threads)


_PR_SET_PDEATHSIG = 1
_WATCH_PARENT_S = 1.0


def _die_with(parent):
    """End this process when ``parent`` dies, even by SIGKILL, which gives the parent no chance to stop its
    pool: on Linux the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG), elsewhere a
    thread watches for the parent to go."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent died before the prctl
                os._exit(1)
            return

    def watch():
        while os.getppid() == parent:
            time.sleep(_WATCH_PARENT_S)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class Local:
    """Cases over ``jobs`` local processes (spawned, so no numba or OpenMP state is forked); with one job,
    in this process, which keeps its compiled kernels."""

    def __init__(self, jobs=1):
        if jobs < 1:
            raise SadbenchError(f"--jobs must be at least 1, got {jobs}")
        self.jobs = jobs

    def map(self, fn, tasks, started=_never):
        if self.jobs == 1:
            for task in tasks:
                started(task)
                try:
                    yield task, fn(task), None
                except Exception as exc:  # a bug in fn itself: recorded with the case, the run goes on
                    yield task, None, exc
            return
        yield from self._pool(fn, tasks, started)

    def _pool(self, fn, tasks, started):
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_start, initargs=(threads, os.getpid()))
        tasks = iter(tasks)
        try:
            pending = {}
            while True:
                while len(pending) < self.jobs:  # a task is taken from ``tasks`` only when a worker is free
                    task = next(tasks, None)
                    if task is None:
                        break
                    started(task)
                    pending[pool.submit(fn, task)] = task
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    exc = future.exception()
                    if isinstance(exc, BrokenProcessPool):
                        raise SadbenchError(f"a worker process died (killed, or out of memory) while case "
                                            f"{task.label!r} or another was running; finished cases are stored: "
                                            "run again to go on") from exc
                    yield task, None if exc else future.result(), exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class Dask:
    """Cases as tasks on a Dask cluster: the scheduler at ``scheduler`` (``tcp://host:port``), or a
    LocalCluster of ``jobs`` single-threaded workers started here. Workers need sadbench installed and
    the suite's local plugin files and data files at the same paths (a shared file system)."""

    def __init__(self, scheduler=None, jobs=1, processes=True, timeout=_CONNECT_TIMEOUT_S):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise SadbenchError("the dask executor needs dask.distributed: pip install 'sadbench[dask]'") from None
        self.scheduler, self.jobs, self.processes, self.timeout = scheduler, jobs, processes, timeout

    def _client(self):
        from distributed import Client, LocalCluster

        if self.scheduler is None:
            cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=self.processes,
                                   dashboard_address=None)
            return Client(cluster), cluster
        try:
            return Client(self.scheduler, timeout=self.timeout), None
        except OSError as exc:
            raise SadbenchError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None

    def map(self, fn, tasks, started=_never):
        """As :meth:`Local.map`; a case whose worker died under it (``KilledWorker``: the scheduler gave up
        after ``distributed.scheduler.allowed-failures`` deaths) is not the case's fault, so it is not
        yielded as a failure: it stays unstored, and after the others this raises, so that running again
        runs exactly the lost cases."""
        from distributed import KilledWorker, as_completed

        client, cluster = self._client()
        lost = []
        try:
            futures = {client.submit(fn, task, key=f"sadbench-{task.case_id}", pure=False): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                exc = future.exception()
                if isinstance(exc, KilledWorker):
                    lost.append(task.label)
                    continue
                yield task, None if exc else future.result(), exc
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        if lost:
            raise SadbenchError(f"{len(lost)} cases were lost with their Dask workers ({', '.join(map(repr, lost))}); "
                                "finished cases are stored: run again to go on")

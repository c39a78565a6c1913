"""Where the runs of a sweep execute: in this process, in local worker processes, or on Dask.

Every executor offers ``map_unordered(fn, tasks)``, yielding ``(task, value, error)`` for each
task as it completes, in completion order: ``value`` is ``fn(task)``, or ``None`` with ``error``
a message when the run could not be carried out at all (its worker died, the cluster lost it).
Only a bounded number of tasks is in flight at once, so the coordinating process holds a
constant amount of work whatever the size of the sweep.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from cartsim.config import ConfigError

T = TypeVar("T")
Completed = tuple[Any, Any, str | None]
EXECUTORS = ("serial", "processes", "dask")

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs ``fn`` over tasks; a context manager that releases its workers on exit."""

    description: str

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def default_workers() -> int:
    """The CPUs this process may use (respects affinity masks and cgroup-limited containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class SerialExecutor:
    """Runs every task in this process, one after the other (for debugging and tiny sweeps)."""

    description = "serial (this process)"

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed]:
        for task in tasks:
            yield task, fn(task), None


# Each worker process runs one model at a time on one core. Numerical libraries (OpenBLAS, MKL,
# OpenMP) may otherwise start a pool of threads per process, and with one process per core those
# pools would compete for the cores. Dask's workers set the same variables.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _one_thread_per_worker() -> Iterator[None]:
    """Set the thread-count variables (unless the user set them) while worker processes start."""
    added = [k for k in _THREAD_VARS if k not in os.environ]
    for key in added:
        os.environ[key] = "1"
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _watch_coordinator(pid: int, interval_s: float = 1.0) -> None:
    """End this worker once the coordinating process ``pid`` is gone (checked every ``interval_s`` s).

    A pool's workers otherwise wait forever for work when the coordinator is killed outright
    (SIGKILL, out of memory), and keep the forkserver alive with them.
    """

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, owned by someone else (pid reused): keep watching
                pass

    threading.Thread(target=watch, name="cartsim-coordinator-watch", daemon=True).start()


def _server_start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _copy_safely() -> bool:
    """Whether worker processes may be forked from this process as it is now.

    A forked worker starts in ~10 ms with everything this process has loaded, which is worth it
    only when that includes the model and its compiled kernels (:func:`worker.is_warm`: a run
    has completed here, as after a serial sweep or an earlier sweep in the same script). It is
    safe only while no other Python thread runs: a thread holding a lock at the moment of the
    fork (logging, a progress bar's monitor, a Jupyter kernel's I/O threads) would leave it
    locked forever in the copy. The native threads of OpenBLAS and of pyarrow's allocator are
    idle pools that their libraries prepare for a fork (``pthread_atfork``).
    """
    from cartsim.experiments.worker import is_warm

    return ("fork" in multiprocessing.get_all_start_methods() and is_warm()
            and threading.active_count() == 1)


def start_forkserver() -> None:
    """Start the server the process executor forks its workers from, unless it already runs.

    The server imports the model and loads its compiled kernels once
    (:mod:`cartsim.experiments.preload`, ~2.5 s on the reference machine), in its own process:
    started early (``cartsim sweep`` starts it before reading the experiment), that work runs on
    another core while this process is still starting up. It then serves every sweep of this
    process. Workers inherit the server's environment, so the thread-count variables are set
    while it starts. Does nothing where there is no forkserver (with spawn, each worker imports
    and warms up in its initializer).
    """
    if _server_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(["cartsim.experiments.preload"])
    with _one_thread_per_worker():
        forkserver.ensure_running()


def _start_worker(coordinator_pid: int) -> None:
    """Initializer of each worker process: watch the coordinator, and have the model's compiled
    kernels loaded before the first run (a no-op for workers forked from the warmed-up
    forkserver; the whole warm-up under ``spawn``)."""
    from cartsim.experiments.worker import warm_up

    _watch_coordinator(coordinator_pid)
    warm_up()


class ProcessExecutor:
    """Local worker processes (``concurrent.futures``), copies of this process or of a forkserver.

    Workers must start with the model imported and its compiled kernels loaded (~2.5 s of
    work in a fresh interpreter, more than a small run). Where this process already has both
    and runs no other thread (:func:`_copy_safely`), the workers are forked from it as the
    executor opens, before a progress bar starts its thread: they start at once. Otherwise
    they are forked from a forkserver, a fresh interpreter that imports the model and loads
    the kernels once (:mod:`cartsim.experiments.preload`), so that workers never inherit
    another thread's locks; spawn where there is no forkserver. The workers live as long as the
    executor (one pool for the whole sweep) and each runs many tasks, so start-up is paid once
    per sweep, not once per run.

    When a worker dies (killed, out of memory, a crash in native code) the pool breaks and every
    run in flight with it fails; those runs are then retried one at a time in a new pool, so the
    run that kills its worker is found and recorded as failed, and the others finish normally.
    """

    def __init__(self, workers: int | None = None, max_in_flight: int | None = None):
        self.workers = workers or default_workers()
        self.max_in_flight = max_in_flight or 2 * self.workers
        self.description = f"{self.workers} local processes"
        self._pool: ProcessPoolExecutor | None = None
        self.start_method = ""  # how the current pool's workers were started

    def __enter__(self) -> ProcessExecutor:
        if _copy_safely():
            self._new_pool()  # fork the workers now, while this process is single-threaded
        return self

    def __exit__(self, *exc: object) -> None:
        self._shutdown()

    def _new_pool(self) -> ProcessPoolExecutor:
        self._shutdown()
        method = "fork" if _copy_safely() else _server_start_method()
        with _one_thread_per_worker():
            if method == "forkserver":
                start_forkserver()
            # no max_tasks_per_child: a worker keeps its imports and loaded kernels for every run
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context(method),
                                             initializer=_start_worker, initargs=(os.getpid(),))
            if method == "fork":
                with warnings.catch_warnings():
                    # Python warns of any native thread; see _copy_safely for why these are safe
                    warnings.filterwarnings("ignore", message=r".*is multi-threaded, use of fork\(\)",
                                            category=DeprecationWarning)
                    self._pool.submit(int).result()  # a fork pool starts all its workers on first use
        self.start_method = method
        return self._pool

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed]:
        source = iter(tasks)
        suspects: deque[T] = deque()  # runs that were in flight when a worker died
        in_flight: dict[Future, T] = {}
        pool = self._pool or self._new_pool()
        exhausted = False
        isolating = False
        while True:
            if not in_flight:
                isolating = bool(suspects)
            if isolating:
                # retry suspects alone, so that a run that kills its worker is identified
                if not in_flight:
                    task = suspects.popleft()
                    in_flight[pool.submit(fn, task)] = task
            else:
                while not exhausted and len(in_flight) < self.max_in_flight:
                    try:
                        task = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    in_flight[pool.submit(fn, task)] = task
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken: list[T] = []
            for future in done:
                task = in_flight.pop(future)
                try:
                    yield task, future.result(), None
                except BrokenProcessPool:
                    broken.append(task)
                except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                    yield task, None, f"{type(exc).__name__}: {exc}"
            if not broken:
                continue
            # the other runs in flight belong to the dead pool too; keep those that had finished
            for future, task in list(in_flight.items()):
                try:
                    value = future.result()
                except Exception:  # noqa: BLE001 - broken with the pool
                    broken.append(task)
                else:
                    yield task, value, None
            in_flight.clear()
            if isolating:
                yield broken[0], None, ("worker process died while running this run (killed, out of "
                                        "memory or crashed), and again when retried alone")
            else:
                log.warning("a worker process died; retrying the %d runs in flight one at a time", len(broken))
                suspects.extend(broken)
            pool = self._new_pool()


class DaskExecutor:
    """Runs on a Dask cluster: an existing scheduler at ``address``, or a new LocalCluster.

    Dask reschedules the runs of a worker that dies; a run that has killed
    ``distributed.scheduler.allowed-failures`` workers comes back as failed (``KilledWorker``).
    """

    def __init__(self, workers: int | None = None, address: str | None = None, max_in_flight: int | None = None):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("--executor dask needs dask.distributed: pip install 'cartsim[dask]'") from None
        self.address = address
        self.workers = workers or default_workers()
        self.max_in_flight = max_in_flight
        self.description = f"dask scheduler at {address}" if address else f"dask LocalCluster, {self.workers} workers"
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskExecutor:
        from distributed import Client, LocalCluster

        if self.address:
            try:
                self._client = Client(self.address, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"--scheduler {self.address}: cannot reach a Dask scheduler there ({exc}). "
                                  "Check the address (tcp://HOST:PORT) and that the scheduler runs") from None
        else:
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (while the executor is open), for libraries that take one."""
        assert self._client is not None, "use the executor as a context manager"
        return self._client

    def _window(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        threads = sum(self._client.nthreads().values())
        return max(16, 2 * threads)  # an adaptive cluster may start with no workers at all

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed]:
        from distributed import as_completed

        assert self._client is not None, "use the executor as a context manager"
        source = iter(tasks)
        owner: dict[str, T] = {}
        pending = as_completed()

        def submit(n: int) -> None:
            for _ in range(n):
                try:
                    task = next(source)
                except StopIteration:
                    return
                future = self._client.submit(fn, task, pure=False)
                owner[future.key] = task
                pending.add(future)

        submit(self._window())
        for future in pending:
            task = owner.pop(future.key)
            try:
                value, error = future.result(), None
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost connection, ...
                value, error = None, f"{type(exc).__name__}: {exc}"
            future.release()
            yield task, value, error
            submit(max(0, self._window() - pending.count()))


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor called ``kind`` (serial, processes or dask)."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give a number of workers >= 1")
    if scheduler and kind != "dask":
        raise ConfigError(f"--scheduler needs --executor dask (got --executor {kind})")
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    raise ConfigError(f"--executor {kind!r}: choose one of {', '.join(EXECUTORS)}")

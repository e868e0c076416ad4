"""Executor-based parameter sweeps that write one parquet part per task and resume.

:func:`run_sweep` maps a task over a grid of configurations on any
:class:`concurrent.futures.Executor`:

* the default is a local process pool (:func:`local_executor`), whose workers are started with
  ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS``
  set to 1 -- the parallelism is across tasks, and nested thread pools would oversubscribe;
* :func:`dask_executor` starts a Dask ``LocalCluster`` (or connects to ``tcp://host:port``) and
  returns an executor backed by ``distributed.Client.get_executor``;
* :class:`SerialExecutor` runs tasks in the calling process (debugging, tiny sweeps).

Seeds: the ``i``-th configuration receives ``numpy.random.SeedSequence(seed).spawn(n)[i]`` as
``config["seed"]``; the spawn key is stored with every row (column ``spawn_key``) and in the
part's metadata, so any row can be reproduced on its own.

Resume: each task writes ``part-<index>-<digest>.parquet`` atomically (write, then rename) under
``out``; the digest covers the configuration, the task, the root seed, the spawn key and the
package version.  A re-run skips parts already present, so an interrupted sweep resumes without
recomputing finished work, and returns the same table as an uninterrupted run (parts are read in
grid order).  An interrupt (``KeyboardInterrupt``) cancels the tasks not yet started and leaves
the parts written.  Tasks are idempotent: a task that Dask runs again because its worker died
rewrites the same part with the same content.  On a remote cluster ``out`` must be on a file
system the workers share.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import theory_rl

__all__ = [
    "THREAD_VARIABLES",
    "SerialExecutor",
    "SweepError",
    "dask_executor",
    "local_executor",
    "make_executor",
    "pin_threads",
    "read_part_metadata",
    "run_sweep",
]

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)
METADATA_KEY = b"theory_rl"


class SweepError(RuntimeError):
    """Some tasks of a sweep raised; the others' parts were written (re-run to resume).

    Attributes:
        failures: ``{grid index: formatted traceback}``.
    """

    def __init__(self, failures: dict[int, str], n_tasks: int):
        self.failures = failures
        first = next(iter(failures.items()))
        super().__init__(
            f"{len(failures)} of {n_tasks} sweep tasks failed; the rest were written and a "
            f"re-run resumes. First failure (grid index {first[0]}):\n{first[1]}"
        )


class SerialExecutor(cf.Executor):
    """Runs each task at submission, in the calling process (returns completed futures)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered through the future; KeyboardInterrupt propagates
            future.set_exception(exc)
        return future


def pin_threads() -> None:
    """Limit this process to one numba/OpenMP/MKL/OpenBLAS thread.

    Sets the environment variables (read when those libraries load, and inherited by child
    processes) and, when numba is already imported, ``numba.set_num_threads(1)`` for the calling
    thread.  Pools are pinned before their workers import anything (see :func:`local_executor`),
    so BLAS libraries loaded by the workers see the variables.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    numba = sys.modules.get("numba")
    if numba is not None:
        with contextlib.suppress(Exception):  # no threading layer available: nothing to pin
            numba.set_num_threads(1)


@contextlib.contextmanager
def _pinned_environ() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: "1" for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def default_workers() -> int:
    """``min(2, cpu_count)``: the project's CI machines have two cores."""
    return max(1, min(2, os.cpu_count() or 1))


def local_executor(max_workers: int | None = None) -> cf.ProcessPoolExecutor:
    """A process pool whose workers run with one numba/BLAS thread each.

    Workers are started with the ``spawn`` method (no inherited thread pools or locks) while the
    thread variables are set in the environment they inherit, so every library a worker loads
    sees them; the initializer :func:`pin_threads` also runs in each worker.
    """
    n = default_workers() if max_workers is None else int(max_workers)
    if n < 1:
        raise ValueError(f"max_workers must be >= 1, got {n}")
    pool = cf.ProcessPoolExecutor(
        n, mp_context=multiprocessing.get_context("spawn"), initializer=pin_threads
    )
    with _pinned_environ():
        # A spawn pool starts a worker for each submission that finds none idle: start all n now,
        # while the pinned environment is in place.
        for f in [pool.submit(os.getpid) for _ in range(n)]:
            f.result()
    return pool


class DaskExecutor(cf.Executor):
    """A ``concurrent.futures`` view of a Dask client; :meth:`shutdown` closes what it opened."""

    def __init__(self, client: Any, cluster: Any = None, *, in_process: bool = False):
        self.client = client
        self.cluster = cluster
        self.in_process = in_process
        self._executor = client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait and not cancel_futures)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes start, so that they inherit the ignored signal.

    Ctrl-C reaches every process of the terminal's process group; the caller handles it and shuts
    the cluster down, and the workers need not print their own KeyboardInterrupt tracebacks.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def dask_executor(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    processes: bool = True,
    threads_per_worker: int = 1,
) -> DaskExecutor:
    """An executor on a Dask cluster: a new ``LocalCluster``, or the scheduler at ``address``.

    Args:
        address: ``"tcp://host:port"`` of a running scheduler; ``None`` starts a LocalCluster.
        n_workers: LocalCluster workers (default :func:`default_workers`).
        processes: LocalCluster workers as processes (True) or threads of this process.
        threads_per_worker: LocalCluster threads per worker.

    LocalCluster worker processes get the thread variables through Dask's
    ``distributed.nanny.pre-spawn-environ`` (set before the worker starts); on an existing
    cluster each task calls :func:`pin_threads` before it runs; the caller's environment is
    restored after the workers start.  LocalCluster workers start with SIGINT ignored: Ctrl-C
    interrupts the caller, whose shutdown stops them.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a declared extra
        raise ImportError(
            "the Dask executor needs dask and distributed: pip install 'theory_rl[dask]'"
        ) from exc
    if address is not None:
        return DaskExecutor(Client(address))
    env = {f"distributed.nanny.pre-spawn-environ.{name}": "1" for name in THREAD_VARIABLES}
    with dask.config.set(env), _pinned_environ(), _sigint_ignored():
        cluster = LocalCluster(
            n_workers=default_workers() if n_workers is None else n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
        )
    return DaskExecutor(Client(cluster), cluster, in_process=not processes)


def make_executor(
    spec: str | cf.Executor | None = None, *, workers: int | None = None
) -> cf.Executor:
    """Build an executor from a CLI-style spec.

    ``None`` or ``"local"``: :func:`local_executor` (``workers`` processes; with ``workers=1``
    a :class:`SerialExecutor`, which avoids starting a process); ``"serial"``:
    :class:`SerialExecutor`; ``"dask"``: a Dask LocalCluster; ``"tcp://host:port"`` (or another
    Dask protocol's address): an existing Dask scheduler.  An Executor instance is returned as is.
    """
    if isinstance(spec, cf.Executor):
        return spec
    if spec in (None, "local"):
        if workers == 1:
            return SerialExecutor()
        return local_executor(workers)
    if spec == "serial":
        return SerialExecutor()
    if spec == "dask":
        return dask_executor(n_workers=workers)
    if isinstance(spec, str) and "://" in spec:  # tcp://, tls://, ... scheduler address
        return dask_executor(spec)
    raise ValueError(
        f"executor must be 'local', 'serial', 'dask' or 'tcp://HOST:PORT', got {spec!r}"
    )


def _scalar(v: Any) -> Any:
    """A parquet-friendly column value for a configuration entry."""
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return json.dumps(v, sort_keys=True, default=str)


def _spawn_key(seed: np.random.SeedSequence) -> str:
    return ".".join(str(k) for k in seed.spawn_key)


@dataclasses.dataclass(frozen=True)
class _Job:
    task: Callable[[dict[str, Any]], Sequence[Mapping[str, Any]]]
    config: dict[str, Any]
    seed: np.random.SeedSequence
    path: str
    metadata: dict[str, Any]
    pin: bool

    def __call__(self) -> str:
        if self.pin:
            pin_threads()
        rows = self.task({**self.config, "seed": self.seed})
        columns = {k: _scalar(v) for k, v in self.config.items()}
        columns["spawn_key"] = _spawn_key(self.seed)
        frame = pd.DataFrame([{**columns, **dict(row)} for row in rows])
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps(self.metadata, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
        # Atomic: a part exists whole or not at all, also when the process is interrupted or
        # killed while writing, or when a cluster re-runs a task lost with a dead worker.
        tmp = f"{self.path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self.path


def _task_name(task: Callable[..., Any]) -> str:
    return f"{getattr(task, '__module__', '?')}.{getattr(task, '__qualname__', repr(task))}"


def read_part_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``theory_rl`` metadata of a sweep part (version, seed, spawn key, config, task)."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[METADATA_KEY])


def run_sweep(
    grid: Sequence[Mapping[str, Any]],
    task: Callable[[dict[str, Any]], Sequence[Mapping[str, Any]]],
    *,
    executor: cf.Executor | None = None,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    progress: str | None = None,
) -> pd.DataFrame:
    """Run ``task`` on every configuration of ``grid``; return the tidy table of all rows.

    Args:
        grid: configurations (dicts of scalars, JSON-serialisable).
        task: ``task(config) -> rows`` (a sequence of dicts), a module-level function so it can
            be pickled; ``config`` is the grid entry plus ``"seed"``, a child
            :class:`numpy.random.SeedSequence`.
        executor: any :class:`concurrent.futures.Executor` (the caller shuts it down); default a
            :func:`local_executor`, created and shut down here.
        out: directory of the parquet parts (created); re-running with the same ``out`` skips
            the parts already written.  Default: a temporary directory (no resume).
        seed: root seed; configuration ``i`` gets ``SeedSequence(seed).spawn(len(grid))[i]``.
        progress: a tqdm description; the bar is shown only on a TTY.

    Returns:
        One row per task row, with the configuration's entries (non-scalars as JSON) and a
        ``spawn_key`` column, in grid order and, within a task, in the task's order.

    Raises:
        SweepError: when some tasks raised (after all others finished and were written).
    """
    from tqdm.auto import tqdm

    grid = [dict(c) for c in grid]
    for c in grid:
        if "seed" in c or "spawn_key" in c:
            raise ValueError(
                "grid entries must not define 'seed' or 'spawn_key'; run_sweep sets them"
            )
    with contextlib.ExitStack() as stack:
        if out is None:
            out = stack.enter_context(tempfile.TemporaryDirectory(prefix="theory_rl-sweep-"))
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        children = np.random.SeedSequence(seed).spawn(len(grid))
        name = _task_name(task)
        paths: list[Path] = []
        pending: list[tuple[int, _Job]] = []
        pin = executor is None or not (
            isinstance(executor, (SerialExecutor, cf.ThreadPoolExecutor))
            or getattr(executor, "in_process", False)
        )
        for i, (config, child) in enumerate(zip(grid, children, strict=True)):
            meta = {
                "version": theory_rl.__version__,
                "seed": seed,
                "spawn_key": list(child.spawn_key),
                "config": config,
                "task": name,
            }
            blob = json.dumps(meta, sort_keys=True, default=str).encode()
            path = out_dir / f"part-{i:05d}-{hashlib.sha256(blob).hexdigest()[:12]}.parquet"
            paths.append(path)
            if not path.exists():
                pending.append((i, _Job(task, config, child, str(path), meta, pin)))
        failures: dict[int, str] = {}
        if pending:
            if executor is None:
                executor = stack.enter_context(local_executor(min(default_workers(), len(pending))))
            futures: dict[cf.Future, int] = {}
            try:
                for i, job in pending:
                    futures[executor.submit(job)] = i
                bar = stack.enter_context(
                    tqdm(
                        total=len(grid),
                        initial=len(grid) - len(pending),
                        desc=progress,
                        disable=None,
                    )
                )
                for future in cf.as_completed(futures):
                    exc = future.exception()
                    if exc is not None:
                        failures[futures[future]] = "".join(traceback.format_exception(exc))
                    bar.update(1)
            except BaseException:  # interrupted: drop the tasks not started; parts written stay
                for future in futures:
                    future.cancel()
                raise
        if failures:
            raise SweepError(dict(sorted(failures.items())), len(grid))
        frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)

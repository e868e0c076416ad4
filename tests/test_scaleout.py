"""Scale-out and resume of sweeps, end to end: a real Dask cluster and a real interrupted CLI.

* A scheduler and two worker processes are started with the ``dask`` command on 127.0.0.1 only;
  ``theory-rl verify --executor tcp://127.0.0.1:PORT`` runs a claim's sweep on them while one
  worker is killed after the first part is written, and the table equals the serial run's.
* :func:`run_sweep` on such a cluster: a task in flight on a killed worker runs again on the
  other worker, and the table equals the serial run's.
* ``theory-rl verify --cache DIR`` interrupted with SIGINT exits at once (status 130, a one-line
  message), keeps only whole parts, and a re-run with the same ``--cache`` computes only the
  missing parts and returns the uninterrupted table.
* An interrupt while a part is being written leaves no part behind (writes are atomic).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from theory_rl.experiments import sweep
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLAIM = "pmd_johnson"  # 16 quick configurations, about 0.1 s each: a first part appears early
MARKS = "THEORY_RL_SCALEOUT_MARKS"  # directory where marked_task records (index, pid) starts


def _env(**extra: str) -> dict[str, str]:
    """The environment of the processes started here: this checkout and the tests importable."""
    env = dict(os.environ, MPLBACKEND="Agg", **extra)
    path = [str(REPO), str(REPO / "tests"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    return env


def _theory_rl() -> list[str]:
    script = shutil.which("theory-rl", path=str(BIN))
    return [script] if script else [sys.executable, "-m", "theory_rl.experiments.cli"]


def _cli(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as f:
        return subprocess.Popen([*_theory_rl(), *args], stdout=f, stderr=f, env=_env())


def _wait(predicate: Callable[[], Any], timeout: float, what: str, procs=()) -> Any:
    """Poll ``predicate`` until it returns a true value; fail if a process in ``procs`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args} exited ({p.returncode}) while waiting for {what}")
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.parquet"))


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by their scalar columns, without timing columns."""
    timing = [c for c in frame.columns if any(t in c for t in ("time", "seconds", "elapsed"))]
    frame = frame.drop(columns=timing)
    keys = [c for c in frame.columns if frame[c].dtype != object]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _assert_same_table(frame: pd.DataFrame, reference: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(_canonical(frame), _canonical(reference))


@pytest.fixture(scope="module")
def serial_table(tmp_path_factory) -> pd.DataFrame:
    """The claim's table from an uninterrupted serial run of the CLI."""
    out = tmp_path_factory.mktemp("serial")
    args = ["verify", "--only", CLAIM, "--quick", "--executor", "serial", "--out", str(out)]
    run = subprocess.run(
        [*_theory_rl(), *args], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return pd.read_parquet(out / f"{CLAIM}.parquet")


@pytest.fixture(scope="module")
def n_configs() -> int:
    from theory_rl.experiments.registry import get_claim

    return len(get_claim(CLAIM).QUICK_GRID)


@dataclasses.dataclass
class Cluster:
    address: str
    workers: list[subprocess.Popen]


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-thread worker processes (no nanny) on 127.0.0.1."""
    pytest.importorskip("distributed")
    dask = shutil.which("dask", path=str(BIN))
    if dask is None:
        pytest.skip("the dask command is not installed (pip install '.[dask]')")
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    env = _env(**{MARKS: str(tmp_path / "marks")})
    procs: list[subprocess.Popen] = []

    def start(args: list[str], name: str) -> subprocess.Popen:
        with (tmp_path / f"{name}.log").open("wb") as log:
            p = subprocess.Popen([dask, *args], stdout=log, stderr=log, env=env, cwd=tmp_path)
        procs.append(p)
        return p

    def address() -> str | None:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            return None

    try:
        loopback = ("--host", "127.0.0.1", "--no-dashboard")
        start(["scheduler", *loopback, "--port", "0", "--scheduler-file", f"{scheduler_file}"], "s")
        addr = _wait(address, 60, "the scheduler file", procs)
        assert addr.startswith("tcp://127.0.0.1:"), addr
        single = ("--nthreads", "1", "--no-nanny", "--scheduler-file", f"{scheduler_file}")
        workers = [
            start(["worker", *loopback, *single, "--local-directory", f"{tmp_path / n}"], n)
            for n in ("w0", "w1")
        ]
        with Client(addr, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            hosts = list(client.scheduler_info()["workers"])
            assert all(w.startswith("tcp://127.0.0.1:") for w in hosts), hosts
        yield Cluster(addr, workers)
    finally:
        _stop(procs[::-1])


def test_cli_sweep_on_a_cluster_survives_a_killed_worker(
    cluster, tmp_path, serial_table, n_configs
):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["verify", "--only", CLAIM, "--quick", "--executor", cluster.address]
    proc = _cli([*args, "--cache", str(cache), "--out", str(out)], tmp_path / "cli.log")
    try:
        _wait(lambda: _parts(cache / CLAIM), 180, "a first part", [proc])
        cluster.workers[1].kill()
        n_at_kill = len(_parts(cache / CLAIM))
        assert cluster.workers[1].wait(timeout=10) == -signal.SIGKILL
        rc = proc.wait(timeout=180)
    finally:
        _stop([proc])
    log = (tmp_path / "cli.log").read_text()
    assert 1 <= n_at_kill < n_configs, n_at_kill  # killed in the middle of the sweep
    assert rc == 0, log
    assert len(_parts(cache / CLAIM)) == n_configs
    _assert_same_table(pd.read_parquet(out / f"{CLAIM}.parquet"), serial_table)


def marked_task(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One seeded draw; on the test cluster it records its start, and on the worker named in
    ``MARKS/victim`` it holds its task (up to 60 s) until the test kills that worker, so the
    kill always finds a task in flight."""
    marks = os.environ.get(MARKS)
    if marks:
        Path(marks).mkdir(exist_ok=True)
        (Path(marks) / f"{config['i']}-{os.getpid()}").touch()
        victim = Path(marks) / "victim"
        if victim.exists() and victim.read_text() == str(os.getpid()):
            time.sleep(60)
        time.sleep(0.05)
    return [{"i2": config["i"] ** 2, "draw": float(np.random.default_rng(config["seed"]).random())}]


def test_task_lost_with_a_killed_worker_runs_again_elsewhere(cluster, tmp_path):
    grid = [{"i": i} for i in range(10)]
    reference = run_sweep(grid, marked_task, executor=SerialExecutor(), out=tmp_path / "ref")
    out, marks = tmp_path / "dask", tmp_path / "marks"
    victim, survivor = cluster.workers[1], cluster.workers[0]
    executor = sweep.make_executor(cluster.address)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["frame"] = run_sweep(grid, marked_task, executor=executor, out=out)
        except BaseException as exc:  # noqa: BLE001 -- reported by the assertion below
            result["error"] = exc

    marks.mkdir()
    (marks / "victim").write_text(str(victim.pid))

    def victim_busy() -> list[int]:
        """The task the victim holds (it never finishes one)."""
        return [int(m.name.split("-")[0]) for m in marks.glob(f"*-{victim.pid}")]

    thread = threading.Thread(target=run)
    thread.start()
    try:
        lost = _wait(victim_busy, 120, "a task in flight on the victim", [victim, survivor])
        victim.kill()
        victim.wait(timeout=10)
        assert len(_parts(out)) < len(grid)
        thread.join(timeout=120)
        assert not thread.is_alive()
    finally:
        executor.shutdown(cancel_futures=thread.is_alive())
        thread.join(timeout=30)
    assert "error" not in result, result.get("error")
    assert (marks / f"{lost[0]}-{survivor.pid}").exists()  # the lost task ran again
    pd.testing.assert_frame_equal(result["frame"], reference)
    # Only a write cut short by the kill may leave a temporary file (never a part).
    writers = {int(t.name.split(".tmp-")[1].split("-")[0]) for t in out.glob("*.tmp-*")}
    assert writers <= {victim.pid}, writers


def test_interrupted_cli_resumes_from_its_cache(tmp_path, serial_table, n_configs):
    cache = tmp_path / "cache"
    args = ["verify", "--only", CLAIM, "--quick", "--executor", "serial", "--cache", str(cache)]
    log = tmp_path / "interrupted.log"
    proc = _cli([*args, "--out", str(tmp_path / "a")], log)
    try:
        _wait(lambda: _parts(cache / CLAIM), 180, "a first part", [proc])
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        rc = proc.wait(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        _stop([proc])
    err = log.read_text()
    assert rc == 130, err
    assert elapsed < 10, elapsed
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted: finished parts are kept"), err
    parts = _parts(cache / CLAIM)
    assert 1 <= len(parts) < n_configs, len(parts)  # stopped in the middle
    for p in parts:  # every part is whole
        pq.read_table(p)
    assert not list((cache / CLAIM).glob("*.tmp-*"))
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts}

    rerun = subprocess.run(
        [*_theory_rl(), *args, "--out", str(tmp_path / "b")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = _parts(cache / CLAIM)
    assert len(after) == n_configs
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in after if p.name in stamps}
    assert kept == stamps  # the finished parts were skipped, not computed again
    _assert_same_table(pd.read_parquet(tmp_path / "b" / f"{CLAIM}.parquet"), serial_table)


def test_interrupt_while_writing_leaves_no_part(tmp_path, monkeypatch):
    grid = [{"i": i} for i in range(4)]
    reference = run_sweep(grid, marked_task, executor=SerialExecutor(), out=tmp_path / "ref")
    write = pq.write_table
    calls = []

    def write_then_interrupt(table, where, **kwargs):
        """The third write is cut short: half the file's bytes, then Ctrl-C."""
        calls.append(where)
        write(table, where, **kwargs)
        if len(calls) == 3:
            data = Path(where).read_bytes()
            Path(where).write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(sweep.pq, "write_table", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, marked_task, executor=SerialExecutor(), out=tmp_path / "run")
    assert len(calls) == 3  # the tasks after the interrupt did not run
    assert len(_parts(tmp_path / "run")) == 2
    assert not list((tmp_path / "run").glob("*.tmp-*"))
    monkeypatch.setattr(sweep.pq, "write_table", write)
    pd.testing.assert_frame_equal(
        run_sweep(grid, marked_task, executor=SerialExecutor(), out=tmp_path / "run"), reference
    )


def test_local_cluster_workers_leave_ctrl_c_to_the_caller():
    """Ctrl-C reaches the whole process group: LocalCluster workers ignore it (no tracebacks),
    the calling process keeps its handler and shuts the cluster down.  The workers are pinned to
    one thread; the caller's environment stays as it was."""
    pytest.importorskip("distributed")
    before = signal.getsignal(signal.SIGINT)
    environ = {name: os.environ.get(name) for name in sweep.THREAD_VARIABLES}
    executor = sweep.dask_executor(n_workers=1)
    try:
        assert signal.getsignal(signal.SIGINT) is before
        assert {name: os.environ.get(name) for name in sweep.THREAD_VARIABLES} == environ
        pinned = executor.submit(lambda: [os.environ.get(n) for n in sweep.THREAD_VARIABLES])
        assert pinned.result(timeout=60) == ["1"] * len(sweep.THREAD_VARIABLES)
        ignored = executor.submit(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        assert ignored.result(timeout=60)
        assert executor.submit(os.getpid).result(timeout=60) != os.getpid()
    finally:
        executor.shutdown()

"""Tests of theory_rl.experiments.sweep: seeds, parts, resume, executors, thread pinning."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import theory_rl
from theory_rl.experiments import sweep
from theory_rl.experiments.sweep import SerialExecutor, SweepError, run_sweep

GRID = [{"x": x, "label": lab} for x in range(4) for lab in ("a", "b")]
CALLS: list[int] = []  # configurations computed in this process (SerialExecutor runs)
FAIL_ON: set[int] = set()  # x values whose task raises


def draw_task(config):
    """Two rows per configuration, using the supplied child seed."""
    CALLS.append(config["x"])
    if config["x"] in FAIL_ON:
        raise RuntimeError(f"injected failure for x={config['x']}")
    rng = np.random.default_rng(config["seed"])
    return [{"i": i, "y": config["x"] ** 2 + i, "draw": float(rng.random())} for i in range(2)]


def env_task(config):
    """Reports the thread settings the worker runs with."""
    import numba

    return [
        {
            **{name: os.environ.get(name, "") for name in sweep.THREAD_VARIABLES},
            "numba_threads": int(numba.get_num_threads()),
            "pid": os.getpid(),
        }
    ]


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    FAIL_ON.clear()
    yield
    FAIL_ON.clear()


def test_rows_columns_order_and_seeds(tmp_path):
    frame = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path, seed=7)
    assert list(frame.columns) == ["x", "label", "spawn_key", "i", "y", "draw"]
    assert len(frame) == 2 * len(GRID)
    assert frame["x"].tolist() == [c["x"] for c in GRID for _ in range(2)]
    assert frame["spawn_key"].tolist() == [str(j) for j in range(len(GRID)) for _ in range(2)]
    # The child seed of configuration j is SeedSequence(7).spawn(n)[j].
    child = np.random.SeedSequence(7).spawn(len(GRID))[5]
    assert frame["draw"].iloc[10] == np.random.default_rng(child).random()
    again = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path / "again", seed=7)
    pd.testing.assert_frame_equal(frame, again)
    other = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path / "other", seed=8)
    assert not np.array_equal(frame["draw"], other["draw"])


def test_each_task_writes_one_part_with_version_and_seed(tmp_path):
    run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path, seed=3)
    parts = sorted(tmp_path.glob("part-*.parquet"))
    assert len(parts) == len(GRID)
    meta = sweep.read_part_metadata(parts[2])
    assert meta["version"] == theory_rl.__version__
    assert meta["seed"] == 3 and meta["spawn_key"] == [2]
    assert meta["config"] == GRID[2]
    assert meta["task"].endswith("draw_task")
    assert not list(tmp_path.glob("*.tmp-*"))


def test_interrupted_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    reference = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path / "ref")
    CALLS.clear()
    FAIL_ON.update({1, 3})
    with pytest.raises(SweepError) as info:
        run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path / "run")
    assert sorted(info.value.failures) == [2, 3, 6, 7]
    assert "injected failure for x=1" in str(info.value)
    assert len(list((tmp_path / "run").glob("part-*.parquet"))) == 4
    FAIL_ON.clear()
    CALLS.clear()
    resumed = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path / "run")
    assert sorted(CALLS) == [1, 1, 3, 3]  # only the failed configurations ran again
    pd.testing.assert_frame_equal(resumed, reference)


def test_deleted_parts_are_recomputed(tmp_path):
    reference = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path)
    parts = sorted(tmp_path.glob("part-*.parquet"))
    parts[0].unlink()
    parts[5].unlink()
    CALLS.clear()
    resumed = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path)
    assert CALLS == [GRID[0]["x"], GRID[5]["x"]]
    pd.testing.assert_frame_equal(resumed, reference)
    CALLS.clear()
    run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path)
    assert CALLS == []  # everything present: nothing recomputed


def test_changed_seed_does_not_reuse_parts(tmp_path):
    run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path, seed=0)
    CALLS.clear()
    run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path, seed=1)
    assert len(CALLS) == len(GRID)


def test_grid_validation_and_empty_results(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        run_sweep([{"seed": 1}], draw_task, executor=SerialExecutor(), out=tmp_path)
    empty = run_sweep([], draw_task, executor=SerialExecutor(), out=tmp_path)
    assert empty.empty


ENV_BEFORE = {name: os.environ.get(name) for name in sweep.THREAD_VARIABLES}


def test_default_process_pool_pins_threads(tmp_path):
    """The default executor is a process pool whose workers run with one thread each."""
    frame = run_sweep([{"x": 0}, {"x": 1}], env_task, out=tmp_path)
    assert (frame["pid"] != os.getpid()).all()
    for name in sweep.THREAD_VARIABLES:
        assert (frame[name] == "1").all(), name
    assert (frame["numba_threads"] == 1).all()
    for name in sweep.THREAD_VARIABLES:  # the parent's environment is left as it was
        assert os.environ.get(name) == ENV_BEFORE[name]


def test_dask_local_cluster_matches_serial(tmp_path):
    pytest.importorskip("distributed")
    reference = run_sweep(GRID, draw_task, executor=SerialExecutor(), out=tmp_path / "ref")
    executor = sweep.dask_executor(n_workers=1, processes=False)
    try:
        frame = run_sweep(GRID, draw_task, executor=executor, out=tmp_path / "dask")
    finally:
        executor.shutdown()
    pd.testing.assert_frame_equal(frame, reference)


def test_tcp_address_connects_to_an_existing_scheduler(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    # The workers run in this process here, and tasks on a remote cluster pin their threads:
    # let monkeypatch restore the environment afterwards.
    for name in sweep.THREAD_VARIABLES:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    reference = run_sweep(GRID[:3], draw_task, executor=SerialExecutor(), out=tmp_path / "ref")
    with distributed.LocalCluster(
        n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None, protocol="tcp"
    ) as cluster:
        executor = sweep.make_executor(cluster.scheduler_address)
        try:
            frame = run_sweep(GRID[:3], draw_task, executor=executor, out=tmp_path / "tcp")
        finally:
            executor.shutdown()
        assert cluster.scheduler_address.startswith("tcp://")
    pd.testing.assert_frame_equal(frame, reference)


def test_make_executor_specs():
    assert isinstance(sweep.make_executor("serial"), SerialExecutor)
    assert isinstance(sweep.make_executor("local", workers=1), SerialExecutor)
    ex = SerialExecutor()
    assert sweep.make_executor(ex) is ex
    with pytest.raises(ValueError, match="tcp://"):
        sweep.make_executor("slurm")


def test_serial_executor_delivers_exceptions_through_the_future():
    future = SerialExecutor().submit(int, "not a number")
    assert isinstance(future.exception(), ValueError)
    assert SerialExecutor().submit(pow, 2, 5).result() == 32


def test_parts_directory_is_created(tmp_path):
    out = tmp_path / "a" / "b"
    run_sweep(GRID[:1], draw_task, executor=SerialExecutor(), out=out)
    assert Path(out).is_dir() and len(list(out.glob("part-*"))) == 1

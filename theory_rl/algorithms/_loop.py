r"""The one iteration loop every iterative driver uses.

A method is a set of pure functions over an opaque ``state`` (optax style); a driver builds
one (binding its problem and settings in closures) and calls :func:`iterate`:

* ``init(rng) -> state``: the iterate ``k = 0``, already evaluated;
* ``update(state, k) -> state``: iterate ``k + 1`` from iterate ``k``, evaluated;
* ``measure(state, keys) -> {key: array}``: the metrics of the current iterate named in
  ``keys``, each of shape ``(*batch_shape, *extra)`` (device arrays are fine: only recorded
  values are moved to the host);
* ``output(state) -> (policy, values, q_values)``: host arrays of the current iterate;
* ``stop(state) -> str | None`` (optional): a method's own stopping rule (e.g. a success
  criterion); a message when met.

:func:`iterate` owns what every driver repeats.

* **History**: ``record`` keys are measured at ``k = 0..K`` into preallocated host buffers;
  ``history[key]`` has shape ``(K+1, *extra)`` for one run and ``(*batch, K+1, *extra)`` for a
  batch (one axis convention for every driver).  The cost of an iteration does not depend on
  ``k``.
* **Stopping**: ``n_iterations`` is the budget ``K`` (fixed-budget drivers say
  ``n_iterations``; rule-stopped solvers such as value iteration say ``max_iterations``).
  ``tol > 0`` stops once the method's ``stop_metric`` is ``<= tol`` for every run of the batch.
  ``converged`` is True exactly when a stopping rule was met (``tol`` or the method's own
  ``stop``); a budget that ran out is not convergence, and the message says which happened.
* **Callback**: ``callback(result_so_far)`` after each measured iterate, with a
  :class:`~theory_rl.result.SolveResult` built only when a callback is given (its history holds
  read-only views, no copies); raising ``StopIteration`` stops the run (``converged`` False).
* **Randomness**: ``seed`` becomes one :class:`numpy.random.Generator` handed to ``init``.
* **Params**: the driver's ``params`` are echoed with ``method``, ``n_iterations``, ``tol`` and
  ``record`` added.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive
from theory_rl.backend import as_generator, namespace_of, to_numpy
from theory_rl.result import SolveResult

__all__ = ["Method", "check_record", "iterate"]

Callback = Callable[[SolveResult], None]


@dataclasses.dataclass(frozen=True)
class Method:
    """An iterative method as pure functions (module docstring).

    Attributes:
        name: the method's name, echoed as ``params["method"]``.
        init, update, measure, output, stop: the functions of the module docstring.
        metrics: the keys ``measure`` accepts (what ``record`` may name).
        stop_metric: the metric ``tol`` is compared with (``None``: ``tol`` not supported).
        batch_shape: leading batch axes of every measured array (``()`` for one run).
    """

    name: str
    init: Callable[[np.random.Generator], Any]
    update: Callable[[Any, int], Any]
    measure: Callable[[Any, frozenset[str]], dict[str, Any]]
    output: Callable[[Any], tuple[Any, Any, Any]]
    metrics: tuple[str, ...]
    stop_metric: str | None = None
    stop: Callable[[Any], str | None] | None = None
    batch_shape: tuple[int, ...] = ()


def check_record(record: str | Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """``record`` as a tuple of known metric names; ``ValueError`` naming the unknown ones."""
    record = (record,) if isinstance(record, str) else tuple(record)
    bad = [key for key in record if key not in allowed]
    if bad:
        raise ValueError(f"record has unknown keys {bad}; choose from {list(allowed)}")
    return record


class _History:
    """Preallocated host buffers ``(K+1, *batch, *extra)`` filled one iterate at a time."""

    def __init__(self, keys: tuple[str, ...], n_entries: int, n_batch_axes: int):
        self.keys, self.n, self.nb = keys, n_entries, n_batch_axes
        self.buffers: dict[str, np.ndarray] = {}

    def write(self, k: int, values: dict[str, Any]) -> None:
        for key in self.keys:
            value = np.asarray(to_numpy(values[key]))
            buf = self.buffers.get(key)
            if buf is None:
                shape = (self.n, *value.shape)
                if value.dtype.kind in "iub":  # counts (samples, queries)
                    buf = np.zeros(shape, dtype=np.int64)
                else:
                    buf = np.full(shape, np.nan)
                self.buffers[key] = buf
            buf[k] = value

    def view(self, n_entries: int) -> dict[str, np.ndarray]:
        """``{key: (*batch, n_entries, *extra)}`` views of the first ``n_entries`` iterates."""
        return {key: np.moveaxis(self.buffers[key][:n_entries], 0, self.nb) for key in self.keys}


def iterate(
    method: Method,
    *,
    n_iterations: int,
    tol: float = 0.0,
    record: Sequence[str] = (),
    callback: Callback | None = None,
    seed: Any = None,
    params: dict[str, Any] | None = None,
) -> SolveResult:
    """Run ``method`` for at most ``n_iterations`` updates (module docstring).

    Returns:
        :class:`~theory_rl.result.SolveResult` of the last iterate, with ``history`` and
        ``params`` as described in the module docstring.
    """
    K = as_int("n_iterations", n_iterations, minimum=0)
    tol = as_positive("tol", tol, allow_zero=True)
    if tol > 0 and method.stop_metric is None:
        raise ValueError(f"tol: {method.name} has no stopping metric; use tol=0")
    record = check_record(record, method.metrics)
    keys = frozenset(record) | ({method.stop_metric} if tol > 0 else set())
    params = {
        "method": method.name,
        **(params or {}),
        "n_iterations": K,
        "tol": tol,
        "record": record,
    }
    history = _History(record, K + 1, len(method.batch_shape))
    state = method.init(as_generator(seed))
    k, converged = 0, False
    while True:
        values = method.measure(state, keys)
        history.write(k, values)
        own = method.stop(state) if method.stop is not None else None
        if own is not None:
            converged, message = True, own
            break
        if tol > 0:
            worst = values[method.stop_metric]
            worst = float(namespace_of(worst).max(worst)) if np.ndim(worst) else float(worst)
            if worst <= tol:
                converged = True
                message = f"{method.stop_metric} <= tol = {tol:g} for every run at k = {k}"
                break
        if callback is not None:
            policy, v, q = method.output(state)
            try:
                callback(
                    SolveResult(
                        policy=policy,
                        values=v,
                        q_values=q,
                        n_iterations=k,
                        converged=False,
                        message="in progress",
                        history=history.view(k + 1),
                        params=params,
                        seed=seed,
                    )
                )
            except StopIteration:
                message = f"stopped by callback at k = {k}"
                break
        if k == K:
            message = (
                f"n_iterations = {K} updates done (fixed budget)"
                if tol == 0
                else f"n_iterations = {K} reached before {method.stop_metric} <= tol = {tol:g}"
            )
            break
        state = method.update(state, k)
        k += 1
    policy, v, q = method.output(state)
    return SolveResult(
        policy=policy,
        values=v,
        q_values=q,
        n_iterations=k,
        converged=converged,
        message=message,
        history={key: np.array(arr) for key, arr in history.view(k + 1).items()},
        params=params,
        seed=seed,
    )

"""The result type every driver returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["SolveResult"]


def _frozen(x: Any) -> Any:
    """A read-only NumPy view of ``x`` (arrays), recursively for dict values; scalars unchanged."""
    if isinstance(x, np.ndarray):
        x = x.view()
        x.flags.writeable = False
        return x
    if isinstance(x, Mapping):
        return {k: _frozen(v) for k, v in x.items()}
    return x


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class SolveResult:
    """Outcome of a solver, in scipy's ``OptimizeResult`` vocabulary.

    Attributes:
        policy: ``(S, A)`` row-stochastic policy (``(H, S, A)`` for finite horizon; a leading batch
            axis when the driver was given a batch).
        values: ``(S,)`` state values of the returned policy or the solver's value estimate, as the
            driver documents (``(H + 1, S)`` for finite horizon).
        q_values: ``(S, A)`` action values matching ``values`` (``(H, S, A)`` for finite horizon).
        n_iterations: outer iterations performed.
        converged: whether the stopping rule was met (False when ``max_iterations`` was hit or a
            callback stopped the run).
        message: a human-readable reason for stopping.
        history: per-iteration metrics, each a 1-D array of length ``n_iterations`` (or
            ``n_iterations + 1`` when the initial point is recorded, as the driver documents).
        params: the settings the driver ran with, echoed back.
        seed: the seed the driver was given (``None`` for deterministic drivers).

    All arrays are read-only.
    """

    policy: np.ndarray
    values: np.ndarray
    q_values: np.ndarray | None
    n_iterations: int
    converged: bool
    message: str
    history: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: Any = None

    def __post_init__(self) -> None:
        for name in ("policy", "values", "q_values", "history", "params"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "n_iterations", int(self.n_iterations))
        object.__setattr__(self, "converged", bool(self.converged))

    def __repr__(self) -> str:
        def short(v: Any) -> str:
            if isinstance(v, np.ndarray):
                return f"array(shape={v.shape}, dtype={v.dtype})"
            if isinstance(v, dict):
                return "{" + ", ".join(f"{k!r}: {short(x)}" for k, x in v.items()) + "}"
            return repr(v)

        fields = [f.name for f in dataclasses.fields(self)]
        width = max(map(len, fields))
        lines = [f"{name.rjust(width)}: {short(getattr(self, name))}" for name in fields]
        return "SolveResult(\n" + "\n".join(lines) + "\n)"

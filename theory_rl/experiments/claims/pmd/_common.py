"""What the policy-mirror-descent claims (``pmd_*``) share; not a claim itself.

* :data:`RTOL` -- relative slack of every PMD bound check (the bound is a float expression of a
  few terms);
* :func:`atol_of` -- the absolute slack: the round-off floor of a value difference
  (:func:`theory_rl.bounds.mdp_constants.value_error_floor`) plus the certified error of the
  reference ``V*`` (:func:`theory_rl.algorithms.exact.reference`);
* :func:`bound_rows` -- tidy rows ``k, measured, bound, atol`` for
  :func:`theory_rl.experiments.checks.bound_verdict` and
  :func:`theory_rl.experiments.checks.ratio_figure`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl.algorithms.exact import reference as exact_reference
from theory_rl.bounds import mdp_constants
from theory_rl.mdps.tabular import TabularMDP

__all__ = ["RTOL", "atol_of", "bound_rows"]

RTOL = 1e-9


def atol_of(mdp: TabularMDP, reference: Any = None) -> float:
    """Round-off floor of a value difference plus the certified error of the reference V*
    (``reference.error`` of a :class:`~theory_rl.algorithms.exact.Reference` of ``mdp``
    if given, else solved here)."""
    reference = exact_reference(mdp) if reference is None else reference
    return mdp_constants.value_error_floor(mdp) + float(reference.error)


def bound_rows(k: Any, measured: Any, bound: Any, atol: float, **extra: Any) -> list[dict]:
    """One row per iterate: ``k``, ``measured``, ``bound`` (each ``(K,)``), the scalar ``atol``
    and ``extra`` columns: a ``(K,)`` array gives one value per row, a scalar the same value."""
    k, measured, bound = np.asarray(k), np.asarray(measured), np.asarray(bound)
    columns = {}
    for name, value in extra.items():
        v = np.asarray(value)
        if v.ndim == 0:
            columns[name] = np.full(k.shape, v.item(), dtype=object)
        elif v.shape == k.shape:
            columns[name] = v.astype(object)
        else:
            raise ValueError(f"extra column {name!r} has shape {v.shape}; expected () or {k.shape}")
    return [
        {
            "k": int(k[i]),
            "measured": float(measured[i]),
            "bound": float(bound[i]),
            "atol": float(atol),
            **{name: _plain(col[i]) for name, col in columns.items()},
        }
        for i in range(k.size)
    ]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v

"""Each numba kernel compiles exactly one signature, whatever dtypes and layouts callers pass.

Runs last (file name) so that it sees every compilation the suite triggered; it also feeds the
public functions integer rewards, float32 and Fortran-ordered values and read-only arrays.
"""

from __future__ import annotations

import numba
import numpy as np
from conftest import dense_mdp

import theory_rl.kernels as kernels_pkg
from theory_rl.algorithms import dp
from theory_rl.mdps import TabularMDP


def _dispatchers():
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(kernels_pkg.__path__):
        module = importlib.import_module(f"{kernels_pkg.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher):
                yield f"{info.name}.{name}", obj


def test_one_signature_per_kernel():
    mdp = dense_mdp(8, 3, 0.9, seed=0)
    int_rewards = TabularMDP(mdp.transitions, np.ones((8, 3), dtype=np.int64), 0.9)
    for m in (mdp, mdp.to_sparse(), int_rewards, int_rewards.to_sparse()):
        for parallel in (False, True):
            start = np.asfortranarray(np.ones((8, 1), dtype=np.float32))[:, 0]
            res = dp.value_iteration(m, tol=1e-6, parallel=parallel, initial_values=start)
            dp.value_iteration(m, tol=1e-6, parallel=parallel, initial_values=res.values)
            dp.modified_policy_iteration(m, m=2, tol=1e-6, parallel=parallel)
            dp.policy_iteration(m, parallel=parallel, initial_policy=res.policy)
    seen = dict(_dispatchers())
    assert "bellman._csr_sweep_serial" in seen
    multi = {name: d.signatures for name, d in seen.items() if len(d.signatures) > 1}
    assert not multi, f"kernels compiled more than one signature: {multi}"

"""Throughput of batched PMD: B step sizes on one MDP in one call against B separate calls.

Both sides compute the same thing (``tests/test_pmd.py`` checks equality to 1e-12): KL-PMD with
geometric steps, 50 updates, exact evaluation, on a 50-state, 4-action dense random MDP, for
B = 32 step sizes.  ``extra_info`` records policy updates per second.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import pmd
from theory_rl.mdps.generators import random_mdp

B, K = 32, 50
ETAS = np.logspace(-2, 2, B)


@pytest.fixture(scope="module")
def mdp():
    return random_mdp(50, 4, gamma=0.9, seed=0)


def _batched(mdp):
    return pmd.policy_mirror_descent(mdp, eta=ETAS, schedule="geometric", n_iterations=K)


def _one_by_one(mdp):
    return [
        pmd.policy_mirror_descent(mdp, eta=float(e), schedule="geometric", n_iterations=K)
        for e in ETAS
    ]


@pytest.mark.parametrize("mode", ["batched", "one_by_one"])
def test_pmd_batch_throughput(benchmark, mdp, mode):
    fn = _batched if mode == "batched" else _one_by_one
    fn(mdp)  # warm-up (policy iteration reference, imports)
    benchmark.extra_info.update(batch=B, n_iterations=K, n_states=50, n_actions=4)
    out = benchmark.pedantic(fn, args=(mdp,), rounds=3, iterations=1)
    benchmark.extra_info["updates_per_second"] = B * K / benchmark.stats.stats.median
    gaps = out.history["gap"][:, -1] if mode == "batched" else [r.history["gap"][-1] for r in out]
    assert np.all(np.isfinite(gaps))

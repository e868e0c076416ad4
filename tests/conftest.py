"""Shared fixtures: small seeded MDPs, the generic (non-numba) code path, and GPU skipping."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import settings

from theory_rl.backend import cupy_available
from theory_rl.mdps import TabularMDP

# CI draws hypothesis examples from a fixed seed, so that a red build is reproducible and never
# depends on the draw; elsewhere each run explores new examples (HYPOTHESIS_PROFILE unset).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
    if cupy_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def dense_mdp(n_states: int, n_actions: int, gamma: float, seed: int, concentration: float = 0.3):
    """A dense random MDP with Dirichlet rows and uniform rewards in [0, 1]."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(n_states, concentration), size=(n_states, n_actions))
    return TabularMDP(P, rng.random((n_states, n_actions)), gamma)


def sparse_mdp(n_states: int, n_actions: int, branching: int, gamma: float, seed: int):
    """A sparse random MDP: each (s, a) reaches ``branching`` distinct states."""
    rng = np.random.default_rng(seed)
    n_rows = n_states * n_actions
    cols = np.argsort(rng.random((n_rows, n_states)), axis=1)[:, :branching]
    data = rng.dirichlet(np.ones(branching), size=n_rows)
    indptr = np.arange(0, n_rows * branching + 1, branching)
    P = sp.csr_array((data.ravel(), cols.ravel(), indptr), shape=(n_rows, n_states))
    return TabularMDP(P, rng.random((n_states, n_actions)), gamma)


def masked_mdp_pair(sparse: bool = False, seed: int = 8, n_states: int = 7, n_actions: int = 3):
    """``(mdp, free, mask)``: an MDP with infeasible actions (``mask`` False: reward ``-inf``,
    transition row all zero) and the same MDP with those actions feasible but rewarded -50,
    never worth taking, so that both have the same optimal values and policies."""
    rng = np.random.default_rng(seed)
    S, A = n_states, n_actions
    P = rng.dirichlet(np.ones(S), size=(S, A))
    mask = rng.random((S, A)) < 0.6
    mask[np.arange(S), rng.integers(A, size=S)] = True
    rewards = rng.normal(size=(S, A))
    free = TabularMDP(P.copy(), np.where(mask, rewards, -50.0), 0.9)
    P[~mask] = 0.0
    rows = sp.csr_array(P.reshape(S * A, S)) if sparse else P
    return TabularMDP(rows, rewards, 0.9, action_mask=mask), free, mask


@pytest.fixture(params=["dense", "sparse"])
def mdp(request):
    """A 30-state, 4-action random MDP at gamma 0.9, dense and sparse."""
    m = dense_mdp(30, 4, 0.9, seed=1)
    return m if request.param == "dense" else m.to_sparse()


@pytest.fixture(params=[True, False], ids=["numba", "generic"])
def code_path(request, monkeypatch):
    """Run a test through the numba kernels and through the generic array-namespace code."""
    from theory_rl.algorithms import dp

    monkeypatch.setattr(dp, "USE_KERNELS", request.param)
    return request.param

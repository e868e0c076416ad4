"""CuPy path on the GPU agrees with the CPU (numba) path to 1e-10 in float64 (marked ``gpu``)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dense_mdp, sparse_mdp

from theory_rl.algorithms import dp
from theory_rl.mdps import FiniteHorizonMDP

pytestmark = pytest.mark.gpu

AGREE = 1e-10


@pytest.fixture(params=["dense", "sparse"])
def instance(request):
    return (
        dense_mdp(60, 4, 0.95, seed=3)
        if request.param == "dense"
        else sparse_mdp(2500, 5, 6, 0.95, seed=4)
    )


def test_value_and_policy_iteration_agree(instance):
    for solver in (dp.value_iteration, dp.modified_policy_iteration):
        cpu, gpu = solver(instance, tol=1e-10), solver(instance, tol=1e-10, device="gpu")
        assert isinstance(gpu.values, np.ndarray) and gpu.params["device"] == "gpu"
        np.testing.assert_allclose(gpu.values, cpu.values, atol=AGREE)
        np.testing.assert_array_equal(gpu.policy, cpu.policy)
        assert gpu.n_iterations == cpu.n_iterations
    cpu, gpu = dp.policy_iteration(instance), dp.policy_iteration(instance, device="gpu")
    np.testing.assert_allclose(gpu.values, cpu.values, atol=AGREE)


def test_evaluation_operators_agree(instance):
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(instance.n_actions), size=instance.n_states)
    v = rng.normal(size=instance.n_states)
    np.testing.assert_allclose(
        dp.q_values(instance, v, device="gpu"), dp.q_values(instance, v), atol=AGREE
    )
    np.testing.assert_allclose(
        dp.policy_evaluation(instance, pi, device="gpu"),
        dp.policy_evaluation(instance, pi),
        atol=AGREE,
    )
    np.testing.assert_allclose(
        dp.occupancy_measure(instance, pi, device="gpu"),
        dp.occupancy_measure(instance, pi),
        atol=AGREE,
    )


def test_cupy_input_infers_device():
    import cupy

    mdp = dense_mdp(20, 3, 0.9, seed=5)
    v = cupy.asarray(np.linspace(0, 1, 20))
    np.testing.assert_allclose(dp.q_values(mdp, v), dp.q_values(mdp, v.get()), atol=AGREE)


def test_backward_induction_agrees():
    m = dense_mdp(40, 3, 0.5, seed=6)
    fh = FiniteHorizonMDP(m.transitions, m.rewards, horizon=7)
    np.testing.assert_allclose(
        dp.backward_induction(fh, device="gpu").values, dp.backward_induction(fh).values, atol=AGREE
    )

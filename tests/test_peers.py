"""Cross-checks against peer libraries nobody here wrote: pymdptoolbox and quantecon."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import dense_mdp, sparse_mdp

from theory_rl.algorithms import dp

mdptoolbox = pytest.importorskip("mdptoolbox.mdp")
quantecon = pytest.importorskip("quantecon")

INSTANCES = [
    pytest.param(lambda: dense_mdp(25, 3, 0.9, seed=21), id="dense-0.9"),
    pytest.param(lambda: dense_mdp(40, 5, 0.99, seed=22, concentration=0.05), id="dense-0.99"),
    pytest.param(lambda: sparse_mdp(300, 4, 3, 0.95, seed=23), id="sparse-0.95"),
]


@pytest.mark.parametrize("make", INSTANCES)
def test_against_pymdptoolbox_policy_iteration(make):
    mdp = make().to_dense()
    P_ass = np.transpose(mdp.transitions, (1, 0, 2))  # pymdptoolbox wants (A, S, S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = mdptoolbox.PolicyIteration(P_ass, mdp.rewards, mdp.gamma, eval_type="matrix")
        peer.run()
    ours = dp.policy_iteration(mdp)
    np.testing.assert_allclose(ours.values, np.asarray(peer.V), atol=1e-9)
    v_peer_policy = dp.policy_evaluation(mdp, np.asarray(peer.policy))
    np.testing.assert_allclose(v_peer_policy, ours.values, atol=1e-9)


@pytest.mark.parametrize("make", INSTANCES)
def test_against_quantecon_discrete_dp(make):
    import scipy.sparse as sp

    mdp = make()
    S, A = mdp.n_states, mdp.n_actions
    if mdp.is_sparse:  # quantecon's state-action-pair form with a sparse Q
        s_idx, a_idx = np.repeat(np.arange(S), A), np.tile(np.arange(A), S)
        ddp = quantecon.markov.DiscreteDP(
            mdp.rewards.ravel(), sp.csr_matrix(mdp.transitions), mdp.gamma, s_idx, a_idx
        )
    else:
        ddp = quantecon.markov.DiscreteDP(mdp.rewards, mdp.transitions, mdp.gamma)
    peer = ddp.solve(method="policy_iteration")
    ours = dp.policy_iteration(mdp)
    np.testing.assert_allclose(ours.values, peer.v, atol=1e-9)
    np.testing.assert_allclose(dp.value_iteration(mdp, tol=1e-10).values, peer.v, atol=1e-9)
    np.testing.assert_allclose(dp.policy_evaluation(mdp, peer.sigma), ours.values, atol=1e-9)


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("FrozenLake-v1", {}), ("FrozenLake-v1", {"is_slippery": False}),
     ("CliffWalking-v1", {}), ("Taxi-v4", {})],
)
def test_gymnasium_toy_text_against_quantecon(env_id, kwargs):
    pytest.importorskip("gymnasium")
    from theory_rl.mdps import from_gymnasium

    mdp = from_gymnasium(env_id, gamma=0.95, **kwargs)
    peer = quantecon.markov.DiscreteDP(mdp.rewards, mdp.to_dense().transitions, mdp.gamma)
    v_peer = peer.solve(method="policy_iteration").v
    for res in (dp.policy_iteration(mdp), dp.value_iteration(mdp, tol=1e-10),
                dp.modified_policy_iteration(mdp, tol=1e-10)):
        np.testing.assert_allclose(res.values, v_peer, atol=1e-9)
    # the added sink is absorbing with zero reward, so its value is exactly 0
    assert v_peer[-1] == 0.0


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_discounted_finite_horizon_against_pymdptoolbox(gamma):
    """pymdptoolbox's ``FiniteHorizon`` (its doc example: the forest problem, H = 3) takes a
    discount; ``FiniteHorizonMDP(gamma=...)`` gives the same values and greedy decisions."""
    from mdptoolbox import example as peer_examples

    from theory_rl.mdps import FiniteHorizonMDP

    P_ass, R_sa = peer_examples.forest()  # (A, S, S) and (S, A)
    H = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = mdptoolbox.FiniteHorizon(P_ass, R_sa, gamma, H)
        peer.run()
    mdp = FiniteHorizonMDP(np.transpose(P_ass, (1, 0, 2)), R_sa, horizon=H, gamma=gamma)
    ours = dp.backward_induction(mdp)
    np.testing.assert_allclose(ours.values.T, np.asarray(peer.V), atol=1e-12)  # (S, H + 1)
    np.testing.assert_array_equal(ours.policy.argmax(-1).T, np.asarray(peer.policy))
    if gamma < 1:  # the discount matters: the undiscounted values differ
        undiscounted = dp.backward_induction(
            FiniteHorizonMDP(np.transpose(P_ass, (1, 0, 2)), R_sa, horizon=H)
        )
        assert np.abs(undiscounted.values[0] - ours.values[0]).max() > 0.1

"""Graph structure: reachability, communicating and recurrent classes, support coverage."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from theory_rl.mdps import (
    TabularMDP,
    chain,
    communicating_classes,
    garnet,
    is_unichain,
    reachable_states,
    recurrent_classes,
    state_graph,
    support_covers,
)


def four_state_mdp() -> TabularMDP:
    """0 <-> 1 -> 2 <-> 3, deterministic, 2 actions.

    s0: a0 -> 1, a1 -> 0      s1: a0 -> 0, a1 -> 2
    s2: a0 -> 3, a1 -> 2      s3: a0 -> 2, a1 -> 3
    Communicating classes {0, 1} and {2, 3}.
    """
    nxt = np.array([[1, 0], [0, 2], [3, 2], [2, 3]])
    P = np.zeros((4, 2, 4))
    P[np.arange(4)[:, None], np.arange(2)[None, :], nxt] = 1.0
    return TabularMDP(P, np.zeros((4, 2)), 0.9, np.eye(4)[0])


def as_lists(classes):
    return [c.tolist() for c in classes]


@pytest.fixture(params=["dense", "sparse"])
def mdp(request):
    m = four_state_mdp()
    return m if request.param == "dense" else m.to_sparse()


def test_communicating_classes(mdp):
    assert as_lists(communicating_classes(mdp)) == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    ("policy", "recurrent", "unichain"),
    [
        ([0, 0, 0, 0], [[0, 1], [2, 3]], False),  # two closed cycles
        ([0, 1, 1, 1], [[2], [3]], False),  # 0 -> 1 -> 2 (self-loop); 3 self-loop
        ([0, 1, 0, 0], [[2, 3]], True),  # 0 -> 1 -> 2 <-> 3: 0, 1 transient
        ([1, 0, 1, 1], [[0], [2], [3]], False),
    ],
)
def test_recurrent_classes_and_unichain(mdp, policy, recurrent, unichain):
    pi = np.array(policy)
    assert as_lists(recurrent_classes(mdp, pi)) == recurrent
    assert is_unichain(mdp, pi) is unichain
    # The same policy given as one-hot (S, A) rows.
    assert as_lists(recurrent_classes(mdp, np.eye(2)[pi])) == recurrent


def test_stochastic_policy_uses_every_action_with_positive_probability(mdp):
    pi = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0]])  # 1 may leave to 2
    assert as_lists(recurrent_classes(mdp, pi)) == [[2]]  # 2 loops; 0, 1, 3 are transient
    assert set(state_graph(mdp, pi).edges()) == {(0, 1), (1, 0), (1, 2), (2, 2), (3, 2)}


def test_reachable_states(mdp):
    np.testing.assert_array_equal(reachable_states(mdp), [0, 1, 2, 3])  # rho = delta_0
    np.testing.assert_array_equal(reachable_states(mdp, policy=[0, 0, 0, 0]), [0, 1])
    np.testing.assert_array_equal(reachable_states(mdp, rho=np.eye(4)[2]), [2, 3])
    rho = np.array([0.0, 0.5, 0.0, 0.5])
    np.testing.assert_array_equal(reachable_states(mdp, [1, 1, 1, 1], rho), [1, 2, 3])
    assert reachable_states(mdp).dtype == np.int64


def test_state_graph(mdp):
    G = state_graph(mdp)
    assert isinstance(G, nx.DiGraph) and sorted(G.nodes) == [0, 1, 2, 3]
    assert set(G.edges) == {(0, 1), (0, 0), (1, 0), (1, 2), (2, 3), (2, 2), (3, 2), (3, 3)}
    assert set(state_graph(mdp, [0, 0, 0, 0]).edges) == {(0, 1), (1, 0), (2, 3), (3, 2)}


def test_explicit_zeros_are_not_edges():
    # CSR with a stored zero P[0, 0, 3] = 0: no edge 0 -> 3.
    P = sp.csr_array(
        (np.array([1.0, 0.0, 1.0, 1.0, 1.0]), np.array([1, 3, 0, 2, 3]), np.array([0, 2, 3, 4, 5])),
        shape=(4, 4),
    )
    mdp = TabularMDP(P, np.zeros((4, 1)), 0.9, np.eye(4)[0])
    assert mdp.transitions.nnz == 5
    assert (0, 3) not in state_graph(mdp).edges
    np.testing.assert_array_equal(reachable_states(mdp), [0, 1])


def test_chain_classes():
    mdp = chain(5)
    assert as_lists(communicating_classes(mdp)) == [list(range(6)), [6]]
    advance = np.zeros(7, dtype=int)
    assert as_lists(recurrent_classes(mdp, advance)) == [[6]]
    assert is_unichain(mdp, advance)
    assert as_lists(recurrent_classes(mdp, np.ones(7, dtype=int))) == [[0], [6]]


def test_sparse_garnet_agrees_with_networkx():
    # An independent implementation: networkx on the state graph.
    mdp = garnet(300, 2, 1, seed=3)  # deterministic transitions: many small classes
    G = state_graph(mdp)
    expected = sorted(sorted(c) for c in nx.strongly_connected_components(G))
    assert as_lists(communicating_classes(mdp)) == expected
    pi = np.zeros(300, dtype=int)
    Gpi = state_graph(mdp, pi)
    cond = nx.condensation(Gpi)
    closed = sorted(sorted(cond.nodes[c]["members"]) for c in cond.nodes if cond.out_degree(c) == 0)
    assert as_lists(recurrent_classes(mdp, pi)) == closed
    rho = np.zeros(300)
    rho[[5, 17]] = 0.5
    reach = {5, 17} | nx.descendants(Gpi, 5) | nx.descendants(Gpi, 17)
    np.testing.assert_array_equal(reachable_states(mdp, pi, rho), sorted(reach))


def test_large_sparse_mdp_is_fast_and_not_densified():
    mdp = garnet(200_000, 4, 3, seed=0)
    assert len(communicating_classes(mdp)) == 1  # b = 3 random successors: one giant SCC
    assert reachable_states(mdp).size == 200_000


def test_support_covers():
    assert support_covers([0.5, 0.5, 0.0], [0.2, 0.3, 0.5])
    assert support_covers([0.5, 0.0, 0.5], [0.2, 0.0, 0.8])
    assert not support_covers([0.5, 0.5, 0.0], [1.0, 0.0, 0.0])
    assert support_covers(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"mu\[1\] = -0.1 is negative"):
        support_covers([1.0, 0.0], [1.1, -0.1])
    with pytest.raises(ValueError, match="one shape"):
        support_covers([1.0, 0.0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="target"):
        support_covers([np.inf, 0.0], [1.0, 0.0])


def test_bad_policy_and_rho(mdp):
    with pytest.raises(ValueError, match="policy"):
        recurrent_classes(mdp, np.ones((3, 2)) / 2)
    with pytest.raises(ValueError, match="policy"):
        recurrent_classes(mdp, [0, 2, 0, 0])
    with pytest.raises(ValueError, match="rho"):
        reachable_states(mdp, rho=np.ones(4))
    with pytest.raises(ValueError, match="policy must be one"):
        state_graph(mdp, np.full((2, 4, 2), 0.5))

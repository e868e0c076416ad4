r"""Graph structure of an MDP: reachability, communicating and recurrent classes.

The **MDP graph** has an edge :math:`s \to s'` when :math:`P(s' \mid s, a) > 0` for some
action :math:`a`; the graph of a policy :math:`\pi` keeps only actions with
:math:`\pi(a \mid s) > 0`, so it is the support graph of the chain :math:`P_\pi`.  On these
graphs (Puterman 1994, Sections 8.3 and A.2):

* the **communicating classes** of the MDP are the strongly connected components (SCCs) of the
  MDP graph: :math:`s` and :math:`s'` communicate when each is reachable from the other under
  some policy;
* the **recurrent classes** of :math:`P_\pi` are its closed SCCs (no edge leaves them); every
  other state is transient;
* :math:`\pi` is **unichain** when :math:`P_\pi` has exactly one recurrent class (plus possibly
  transient states).

Everything is computed from the CSR ``(S*A, S)`` transition matrix in O(nnz) with
:mod:`scipy.sparse.csgraph` (sparse MDPs are never densified); :func:`state_graph` returns the
same graph as a :class:`networkx.DiGraph` for drawing and ad-hoc analysis.

:func:`support_covers` answers whether a distribution-mismatch coefficient
:math:`\|d / \mu\|_\infty` (e.g. of Agarwal et al. 2021 or Xiao 2022) is finite: exactly when
:math:`\mu(s) > 0` wherever :math:`d(s) > 0`.

References:
    M. Puterman. Markov Decision Processes. Wiley (1994), Sections 8.3 and A.2.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from theory_rl.mdps.tabular import (
    TabularMDP,
    _as_float_array,
    _check_distribution,
    _check_finite,
    validate_policy,
)

__all__ = [
    "communicating_classes",
    "is_unichain",
    "reachable_states",
    "recurrent_classes",
    "state_graph",
    "support_covers",
]


def _adjacency(mdp: TabularMDP, policy: Any = None) -> sp.csr_array:
    """``(S, S)`` CSR whose stored entries are the edges ``s -> s'`` (data > 0), in O(nnz)."""
    S, A = mdp.n_states, mdp.n_actions
    M = mdp.transition_matrix
    M = M if sp.issparse(M) else sp.csr_array(M)
    if policy is None:  # every feasible action
        allowed = np.asarray(getattr(mdp, "action_mask", np.ones((S, A))), np.float64).ravel()
    else:
        pi = validate_policy(policy, S, A)
        if pi.ndim != 2:
            raise ValueError(f"policy must be one (S, A) policy, got shape {pi.shape}")
        allowed = (pi.ravel() > 0).astype(np.float64)
    # W[s, s*A + a] = 1 for allowed actions; W @ (P > 0) has an entry where some allowed action
    # reaches s'.  Sparse products cost O(nnz); explicit zeros are dropped afterwards.
    W = sp.csr_array((allowed, np.arange(S * A), np.arange(0, S * A + 1, A)), shape=(S, S * A))
    support = sp.csr_array(((M.data > 0).astype(np.float64), M.indices, M.indptr), shape=M.shape)
    adj = sp.csr_array(W @ support)
    adj.eliminate_zeros()
    return adj


def state_graph(mdp: TabularMDP, policy: Any = None) -> nx.DiGraph:
    """The MDP graph (or the graph of ``policy``'s chain) as a :class:`networkx.DiGraph`.

    Nodes are the states ``0, ..., S-1``; there is an edge ``s -> s'`` when some action (some
    action with ``policy[s, a] > 0``, if given) reaches ``s'`` with positive probability.
    Self-loops are included.  ``policy`` may be ``(S, A)`` stochastic or ``(S,)`` actions.
    """
    adj = _adjacency(mdp, policy).tocoo()
    G = nx.DiGraph()
    G.add_nodes_from(range(mdp.n_states))
    G.add_edges_from(zip(adj.row.tolist(), adj.col.tolist(), strict=True))
    return G


def reachable_states(mdp: TabularMDP, policy: Any = None, rho: Any = None) -> np.ndarray:
    """Sorted states reachable (in zero or more steps) from the support of ``rho``.

    Args:
        mdp: the problem.
        policy: restrict to the actions of this policy (``(S, A)`` or ``(S,)`` ints); all
            actions when omitted.
        rho: ``(S,)`` start distribution; ``mdp.initial_distribution`` when omitted.

    Returns:
        ``int64`` array of state indices, increasing.
    """
    S = mdp.n_states
    if rho is None:
        rho = mdp.initial_distribution
    else:
        rho = _as_float_array("rho", rho)
        if rho.shape != (S,):
            raise ValueError(f"rho must have shape (S,) = ({S},); got {rho.shape}")
        _check_distribution("rho", rho)
    sources = np.flatnonzero(rho > 0)
    adj = _adjacency(mdp, policy)
    # One breadth-first search from a virtual root S with edges to every source.
    k = sources.size
    aug = sp.csr_array(
        (
            np.concatenate([adj.data, np.ones(k)]),
            np.concatenate([adj.indices, sources]).astype(adj.indices.dtype, copy=False),
            np.append(adj.indptr, adj.indptr[-1] + k).astype(adj.indptr.dtype, copy=False),
        ),
        shape=(S + 1, S + 1),
    )
    order = csgraph.breadth_first_order(aug, S, directed=True, return_predecessors=False)
    return np.sort(order[order != S]).astype(np.int64)


def _classes(labels: np.ndarray, keep: np.ndarray | None = None) -> list[np.ndarray]:
    """Group states by label; classes ordered by their smallest state."""
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = np.split(order.astype(np.int64), bounds)
    if keep is not None:
        groups = [g for g in groups if keep[labels[g[0]]]]
    return sorted(groups, key=lambda g: int(g[0]))


def communicating_classes(mdp: TabularMDP) -> list[np.ndarray]:
    """The communicating classes: SCCs of the MDP graph (any action), each sorted.

    Classes are listed in increasing order of their smallest state.  The MDP is
    *communicating* when there is exactly one.
    """
    _, labels = csgraph.connected_components(_adjacency(mdp), directed=True, connection="strong")
    return _classes(labels)


def recurrent_classes(mdp: TabularMDP, policy: Any) -> list[np.ndarray]:
    """The recurrent classes of the chain ``P_pi``: its closed SCCs, each sorted.

    A strongly connected component is closed when no edge of ``P_pi``'s support leaves it;
    states outside every closed class are transient.  Classes are listed in increasing order
    of their smallest state.
    """
    adj = _adjacency(mdp, policy)
    n, labels = csgraph.connected_components(adj, directed=True, connection="strong")
    coo = adj.tocoo()
    leaving = labels[coo.row] != labels[coo.col]
    closed = np.ones(n, dtype=bool)
    closed[labels[coo.row[leaving]]] = False
    return _classes(labels, keep=closed)


def is_unichain(mdp: TabularMDP, policy: Any) -> bool:
    """True when ``P_pi`` has exactly one recurrent class (transient states allowed)."""
    return len(recurrent_classes(mdp, policy)) == 1


def support_covers(target: Any, mu: Any) -> bool:
    r"""True when ``mu(s) > 0`` wherever ``target(s) > 0``.

    Equivalently, the mismatch coefficient :math:`\|target / \mu\|_\infty` is finite.

    Args:
        target: ``(S,)`` non-negative weights (e.g. :math:`d_\rho^{\pi^*}`).
        mu: ``(S,)`` non-negative weights (e.g. the start distribution of the algorithm).
    """
    t = _as_float_array("target", target)
    m = _as_float_array("mu", mu)
    if t.ndim != 1 or t.shape != m.shape:
        raise ValueError(
            f"target and mu must be 1-D arrays of one shape (S,); got {t.shape} and {m.shape}"
        )
    for name, x in (("target", t), ("mu", m)):
        _check_finite(name, x)
        if (x < 0).any():
            i = int(np.flatnonzero(x < 0)[0])
            raise ValueError(f"{name}[{i}] = {x[i]:.6g} is negative; weights must be >= 0")
    return bool(np.all(m[t > 0] > 0))

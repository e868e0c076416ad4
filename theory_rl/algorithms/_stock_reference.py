r"""Ground truth for stock-augmented optimisation on small finite-horizon MDPs.

Independent of the stock recursion of :mod:`theory_rl.algorithms.distributional`:

* :func:`brute_force` -- enumerate every deterministic policy of a class (``"history"``: the
  action depends on the whole state history :math:`(s_0, \dots, s_t)`; ``"markov"``: on
  :math:`(t, s_t)`; ``"stationary"``: on :math:`s_t`), compute each one's exact return law by
  expanding the path tree, and take the best :math:`\mathbb E f(c_0 + G)` or
  :math:`\mathrm{CVaR}_\alpha(G)`.  Deterministic history-dependent policies suffice for both
  (CVaR is a max of affine functions of the law, hence convex under mixtures; an expected
  utility is affine), so the history optimum over them is the optimum over all policies.
  :math:`A^N` policies with :math:`N = \sum_{t<H} S^t` history nodes: S = A = 2, H = 4 gives
  32768.
* :func:`occupancy_lp` -- for a fixed initial stock, the inner problem
  :math:`\max_\pi \mathbb E f(c_0 + G)` (integer rewards, :math:`\gamma = 1`) as a linear
  program over occupancy measures :math:`x(t, s, c, a) \ge 0` of the reachable augmented
  states, solved by :func:`scipy.optimize.linprog` (HiGHS).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from theory_rl.algorithms.distributional import cvar
from theory_rl.mdps.tabular import FiniteHorizonMDP

__all__ = ["brute_force", "occupancy_lp"]


def _dense(mdp: FiniteHorizonMDP, t: int) -> np.ndarray:
    P = mdp.transitions_at(t)
    S, A = mdp.n_states, mdp.n_actions
    return P.toarray().reshape(S, A, S) if sp.issparse(P) else np.asarray(P)


def brute_force(
    mdp: FiniteHorizonMDP,
    s0: int,
    *,
    alpha: float | None = None,
    f: Callable[[np.ndarray], np.ndarray] | None = None,
    initial_stock: float = 0.0,
    policy_class: str = "history",
) -> tuple[float, dict[str, Any]]:
    r"""The best deterministic policy of ``policy_class`` from ``s0``: its objective and details.

    Exactly one of ``alpha`` (maximise :math:`\mathrm{CVaR}_\alpha(G)`) and ``f`` (maximise
    :math:`\mathbb E f(c_0 + G)`, ``c_0 = initial_stock``) is given.  The return is
    :math:`G = \sum_{t<H}\gamma^t r_t(s_t, a_t)`.

    Returns:
        ``(best value, {"n_policies", "values" (per policy), "best_actions"})``.
    """
    if (alpha is None) == (f is None):
        raise ValueError("give exactly one of alpha and f")
    H, S, A, g = mdp.horizon, mdp.n_states, mdp.n_actions, mdp.gamma
    # paths s_1..s_{H-1} (the last transition does not change the return)
    paths = np.array(list(itertools.product(range(S), repeat=H - 1)), dtype=np.int64).reshape(
        -1, H - 1
    )
    full = np.concatenate([np.full((len(paths), 1), s0), paths], axis=1)  # (n_paths, H)
    if policy_class == "history":
        node_of: dict[tuple[int, ...], int] = {}
        for t in range(H):
            for prefix in itertools.product(range(S), repeat=t):
                node_of[(s0, *prefix)] = len(node_of)
        nodes = np.array([[node_of[tuple(p[: t + 1])] for t in range(H)] for p in full])
    elif policy_class == "markov":
        nodes = np.arange(H)[None, :] * S + full
    elif policy_class == "stationary":
        nodes = full
    else:
        raise ValueError(
            f"policy_class must be history, markov or stationary, got {policy_class!r}"
        )
    n_nodes = int(nodes.max()) + 1
    n_pol = A**n_nodes
    if n_pol > 2**22:
        raise ValueError(f"{n_pol} policies: too many to enumerate")
    pol = (np.arange(n_pol)[:, None] // A ** np.arange(n_nodes)[None, :]) % A  # (n_pol, N)
    acts = pol[:, nodes]  # (n_pol, n_paths, H)
    prob = np.ones(acts.shape[:2])
    ret = np.zeros(acts.shape[:2])
    for t in range(H):
        r_t = mdp.rewards_at(t)
        s_t = full[None, :, t]
        ret += g**t * r_t[s_t, acts[:, :, t]]
        if t < H - 1:
            P = _dense(mdp, t)
            prob *= P[s_t, acts[:, :, t], full[None, :, t + 1]]
    if alpha is not None:
        values = cvar(ret, prob, alpha=alpha)
    else:
        values = (prob * f(initial_stock + ret)).sum(axis=1)
    best = int(np.argmax(values))
    return float(values[best]), {
        "n_policies": n_pol,
        "values": values,
        "best_actions": pol[best],
    }


def occupancy_lp(
    mdp: FiniteHorizonMDP,
    s0: int,
    initial_stock: int,
    f: Callable[[np.ndarray], np.ndarray],
) -> float:
    r""":math:`\max_\pi \mathbb E f(c_0 + G)` from ``(s0, c0)`` by an occupancy-measure LP.

    Variables :math:`x(t, s, c, a)` over the augmented states reachable from
    :math:`(0, s_0, c_0)`; constraints: :math:`\sum_a x(0, s, c, a) = 1\{(s, c) = (s_0, c_0)\}`
    and flow conservation :math:`\sum_a x(t+1, s', c', a) = \sum_{s, c, a: c + r_t(s, a) = c'}
    P_t(s'|s, a)\,x(t, s, c, a)`; objective :math:`\sum x(H-1, s, c, a) f(c + r_{H-1}(s, a))`.
    Integer rewards and :math:`\gamma = 1` (stocks are integers).
    """
    if mdp.gamma != 1.0:
        raise ValueError("gamma: the occupancy LP needs gamma = 1")
    H, A = mdp.horizon, mdp.n_actions
    layers: list[list[tuple[int, int]]] = [[(s0, int(initial_stock))]]
    for t in range(H - 1):
        r, P = mdp.rewards_at(t), _dense(mdp, t)
        nxt = sorted(
            {
                (int(s2), c + int(r[s, a]))
                for s, c in layers[t]
                for a in range(A)
                for s2 in np.flatnonzero(P[s, a] > 0)
            }
        )
        layers.append(nxt)
    index: dict[tuple[int, int, int, int], int] = {}
    for t, layer in enumerate(layers):
        for s, c in layer:
            for a in range(A):
                index[(t, s, c, a)] = len(index)
    n = len(index)
    rows, cols, vals, rhs = [], [], [], []
    cons = 0
    for t, layer in enumerate(layers):
        for s, c in layer:
            for a in range(A):
                rows.append(cons)
                cols.append(index[(t, s, c, a)])
                vals.append(1.0)
            if t == 0:
                rhs.append(1.0)
            else:
                rp, Pp = mdp.rewards_at(t - 1), _dense(mdp, t - 1)
                for sp_, cp in layers[t - 1]:
                    for a in range(A):
                        if cp + int(rp[sp_, a]) == c and Pp[sp_, a, s] > 0:
                            rows.append(cons)
                            cols.append(index[(t - 1, sp_, cp, a)])
                            vals.append(-Pp[sp_, a, s])
                rhs.append(0.0)
            cons += 1
    A_eq = sp.csr_array((vals, (rows, cols)), shape=(cons, n))
    c_obj = np.zeros(n)
    r_last = mdp.rewards_at(H - 1)
    for (t, s, c, a), i in index.items():
        if t == H - 1:
            c_obj[i] = -float(f(np.array(c + r_last[s, a], dtype=float)))
    res = linprog(c_obj, A_eq=A_eq, b_eq=np.array(rhs), bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"occupancy LP failed: {res.message}")
    return float(-res.fun)

r"""Converters from other libraries' MDP formats: gymnasium toy-text models and pymdptoolbox.

:func:`from_gymnasium` reads the exact model ``env.unwrapped.P`` of gymnasium's toy-text
environments (FrozenLake-v1, CliffWalking-v1, Taxi-v4), where ``P[s][a]`` lists tuples
``(prob, next_state, reward, terminated)``:

1. **Duplicate next states are summed.**  FrozenLake lists ``s' = 0`` twice in ``P[0][0]``.
2. **Rewards may depend on s'.**  The model stores the expectation
   ``r[s, a] = sum_k prob_k * reward_k``.
3. **Termination belongs to transitions.**  Every transition flagged ``terminated`` is routed
   to an added absorbing, zero-reward **sink state with index S** (its reward is kept), so the
   result has ``S + 1`` states.  CliffWalking's goal 47, for instance, is not absorbing in
   ``P`` (``P[47][0]`` moves to 35), but the moves into it are flagged ``terminated``.  With
   terminations routed to the sink, the env's own terminal states (FrozenLake's holes and
   goal, CliffWalking's 47) stay in the model but are never entered.
4. **Time limits are not in the model.**  ``max_episode_steps`` (FrozenLake 100, Taxi 200)
   truncates episodes in the env wrapper only; the discounted optimum of the returned MDP can
   differ from the best time-limited behaviour.

The initial distribution is ``env.unwrapped.initial_state_distrib`` (extended by a zero for
the sink).  gymnasium itself is imported only to build an env from an id string, and is the
optional extra ``theory_rl[gym]``.

:func:`from_mdptoolbox` converts pymdptoolbox's layout, **transitions ``P[a, s, s']`` of shape
``(A, S, S)``** (or a list of ``A`` dense or sparse ``(S, S)`` matrices) and rewards of shape
``(S,)``, ``(S, A)`` or ``(A, S, S)``, to this package's ``P[s, a, s']`` ``(S, A, S)``.  The
two layouts are a known source of confusion (pymdptoolbox issue #37: arrays passed in the
other order).  When ``S != A`` a wrongly ordered array fails the shape check with a hint; when
``S == A`` both orders have valid shapes and stochastic rows, and only the user can tell them
apart.  :func:`to_mdptoolbox` converts back.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl.mdps.tabular import (
    InvalidMDPError,
    TabularMDP,
    _as_float_array,
    _check_finite,
)

__all__ = ["from_gymnasium", "from_mdptoolbox", "to_mdptoolbox"]


def _import_gymnasium() -> ModuleType:
    try:
        import gymnasium
    except ImportError as exc:
        raise ImportError(
            "from_gymnasium needs gymnasium to build an environment from its id; install the "
            "optional extra:  pip install 'theory_rl[gym]'"
        ) from exc
    return gymnasium


def _discrete_n(space: Any, name: str) -> int:
    n = getattr(space, "n", None)
    if n is None or isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"env.{name} must be a Discrete space with n >= 1, got {space!r}")
    return int(n)


def from_gymnasium(
    env: Any, *, gamma: float, sparse: bool = False, **make_kwargs: Any
) -> TabularMDP:
    r"""The exact model of a gymnasium toy-text environment, with an absorbing sink state.

    Args:
        env: an environment (wrapped or not) whose ``unwrapped`` has ``P``, or an id string
            such as ``"FrozenLake-v1"``, built with ``gymnasium.make(env, **make_kwargs)``
            (e.g. ``is_slippery=False``, ``map_name="8x8"``).
        gamma: discount factor in ``[0, 1)`` (the envs have none).
        sparse: CSR ``((S+1)*A, S+1)`` transitions if True, dense ``(S+1, A, S+1)`` otherwise.

    Returns:
        TabularMDP with ``S + 1`` states: state ``S`` is the sink that every ``terminated``
        transition enters (absorbing, reward 0); ``r[s, a] = sum prob * reward`` over the
        listed outcomes.  Episode time limits are not part of the model (see module notes).

    Raises:
        ImportError: an id string was given and gymnasium is not installed.
        ValueError: the env has no tabular model ``P`` (e.g. Blackjack) or a malformed entry.

    Example:
        >>> mdp = from_gymnasium("FrozenLake-v1", gamma=0.99)   # doctest: +SKIP
        >>> mdp.n_states, mdp.n_actions                           # doctest: +SKIP
        (17, 4)
    """
    created = isinstance(env, str)
    if created:
        env = _import_gymnasium().make(env, **make_kwargs)
    elif make_kwargs:
        raise ValueError(
            f"keyword arguments {sorted(make_kwargs)} are for gymnasium.make and need an env id "
            "string"
        )
    try:
        u = getattr(env, "unwrapped", env)
        model = getattr(u, "P", None)
        if model is None:
            raise ValueError(
                f"{type(u).__name__} has no tabular model env.unwrapped.P; only toy-text envs "
                "such as FrozenLake, CliffWalking and Taxi expose one (Blackjack does not)"
            )
        S = _discrete_n(u.observation_space, "observation_space")
        A = _discrete_n(u.action_space, "action_space")
        rho_env = getattr(u, "initial_state_distrib", None)
        rows: list[int] = []
        cols: list[int] = []
        probs: list[float] = []
        rewards: list[float] = []
        for s in range(S):
            for a in range(A):
                try:
                    outcomes = model[s][a]
                except (KeyError, IndexError, TypeError):
                    raise ValueError(f"env.P[{s}][{a}] is missing") from None
                for k, outcome in enumerate(outcomes):
                    try:
                        p, s2, rwd, term = outcome[:4]
                        p, rwd = float(p), float(rwd)
                    except (TypeError, ValueError):
                        raise ValueError(
                            f"env.P[{s}][{a}][{k}] = {outcome!r} is not "
                            "(prob, next_state, reward, terminated)"
                        ) from None
                    if (
                        isinstance(s2, bool)
                        or not isinstance(s2, (int, np.integer))
                        or not (0 <= s2 < S)
                    ):
                        raise ValueError(
                            f"env.P[{s}][{a}][{k}] has next_state {s2!r}, not a state in [0, {S})"
                        )
                    rows.append(s * A + a)
                    cols.append(S if term else int(s2))
                    probs.append(p)
                    rewards.append(p * rwd)
    finally:
        if created:
            env.close()

    n_rows = (S + 1) * A
    sink_rows = np.arange(S * A, n_rows)
    row = np.concatenate([np.asarray(rows, dtype=np.int64), sink_rows])
    col = np.concatenate([np.asarray(cols, dtype=np.int64), np.full(A, S)])
    prob = np.concatenate([np.asarray(probs, dtype=np.float64), np.ones(A)])
    _check_finite("env.P probabilities", prob)
    _check_finite("env.P rewards", np.asarray(rewards, dtype=np.float64))
    # COO -> CSR sums the duplicate (s, a, s') entries.
    P = sp.csr_array(sp.coo_array((prob, (row, col)), shape=(n_rows, S + 1)))
    P.sum_duplicates()
    r = np.bincount(np.asarray(rows, dtype=np.int64), weights=np.asarray(rewards), minlength=n_rows)
    r = r.reshape(S + 1, A)
    if rho_env is None:
        rho = np.append(np.full(S, 1.0 / S), 0.0)
    else:
        rho_env = _as_float_array("initial_state_distrib", rho_env).ravel()
        if rho_env.shape != (S,):
            raise ValueError(
                f"env.unwrapped.initial_state_distrib must have shape ({S},), got {rho_env.shape}"
            )
        rho = np.append(rho_env, 0.0)
    transitions = P if sparse else P.toarray().reshape(S + 1, A, S + 1)
    return TabularMDP(transitions, r, gamma, rho)


# --------------------------------------------------------------------------------------------
# pymdptoolbox
# --------------------------------------------------------------------------------------------
def _matrix_list(name: str, x: Any) -> list[Any] | None:
    """Per-action ``(S, S)`` matrices when ``x`` is a list/object array holding sparse ones.

    Returns None when ``x`` is to be read as one numeric array (ndarray or nested lists).
    """
    if sp.issparse(x):
        raise InvalidMDPError(
            f"{name} is a single sparse matrix; pymdptoolbox expects a list of A sparse "
            "(S, S) matrices, one per action"
        )
    if isinstance(x, np.ndarray) and x.dtype == object:
        return list(x)
    if isinstance(x, (list, tuple)) and any(sp.issparse(m) for m in x):
        return list(x)
    return None


def from_mdptoolbox(
    P: Any, R: Any, gamma: float, *, initial_distribution: Any = None
) -> TabularMDP:
    r"""A :class:`TabularMDP` from pymdptoolbox's ``(P, R)``.

    Args:
        P: transitions in pymdptoolbox's layout ``P[a, s, s']``: an ``(A, S, S)`` array, or a
            list (or object array) of ``A`` dense or ``scipy.sparse`` ``(S, S)`` matrices.  Any
            sparse element gives CSR ``(S*A, S)`` transitions (row ``s*A + a``) without
            densifying.
        R: rewards ``R[s]`` ``(S,)`` (the same for every action), ``R[s, a]`` ``(S, A)``, or
            ``R[a, s, s']`` ``(A, S, S)`` (array or list of ``A`` dense/sparse ``(S, S)``),
            reduced to ``r[s, a] = sum_{s'} P[a, s, s'] R[a, s, s']``.
        gamma: discount factor in ``[0, 1)`` (pymdptoolbox calls it ``discount``).
        initial_distribution: ``(S,)``; uniform if omitted.

    .. warning:: pymdptoolbox puts the action first (``(A, S, S)``); this package puts it
       second (``(S, A, S)``).  With ``S == A`` an array in the wrong order still has the
       right shape -- check which one you hold (pymdptoolbox issue #37).

    Example:
        >>> import mdptoolbox.example                            # doctest: +SKIP
        >>> mdp = from_mdptoolbox(*mdptoolbox.example.forest(), gamma=0.9)  # doctest: +SKIP
    """
    mats = _matrix_list("P", P)
    if mats is not None:
        A = len(mats)
        if A == 0:
            raise InvalidMDPError("P has no actions (an empty list)")
        shapes = [m.shape if sp.issparse(m) else np.shape(m) for m in mats]
        if any(len(sh) != 2 or sh[0] != sh[1] or sh != shapes[0] for sh in shapes):
            raise InvalidMDPError(
                f"P must be A matrices of one shape (S, S) (pymdptoolbox layout); got {shapes}"
            )
        S = shapes[0][0]
        if any(sp.issparse(m) for m in mats):
            stacked = sp.csr_array(sp.vstack([sp.csr_array(m, dtype=np.float64) for m in mats]))
            k = np.arange(S * A)  # new row s*A + a is stacked row a*S + s
            transitions: Any = stacked[(k % A) * S + k // A]
        else:
            transitions = np.stack([_as_float_array("P", m) for m in mats]).transpose(1, 0, 2)
    else:
        arr = _as_float_array("P", P)
        if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            hint = ""
            if arr.ndim == 3 and arr.shape[0] == arr.shape[2]:
                hint = (
                    " -- this looks like this package's (S, A, S) layout; pass "
                    "P.transpose(1, 0, 2) or build TabularMDP directly (pymdptoolbox issue #37)"
                )
            raise InvalidMDPError(
                f"P must have pymdptoolbox's shape (A, S, S) = P[a, s, s']; got {arr.shape}{hint}"
            )
        A, S = arr.shape[0], arr.shape[1]
        mats = list(arr)
        transitions = arr.transpose(1, 0, 2)

    r = _mdptoolbox_rewards(R, mats, S, A)
    return TabularMDP(transitions, r, gamma, initial_distribution)


def _mdptoolbox_rewards(R: Any, mats: list[Any], S: int, A: int) -> np.ndarray:
    """``r[s, a]`` from pymdptoolbox rewards ``(S,)``, ``(S, A)`` or ``(A, S, S)``."""
    R_mats = _matrix_list("R", R)
    if R_mats is None:
        arr = _as_float_array("R", R)
        if arr.shape == (S,):
            return np.repeat(arr[:, None], A, axis=1)
        if arr.shape == (S, A):
            return arr
        if arr.shape != (A, S, S):
            raise InvalidMDPError(
                f"R must have shape (S,) = ({S},), (S, A) = {(S, A)} or (A, S, S) = {(A, S, S)} "
                f"(pymdptoolbox layout); got {arr.shape}"
            )
        R_mats = list(arr)
    if len(R_mats) != A:
        raise InvalidMDPError(
            f"R must hold one (S, S) matrix per action (A = {A}); got {len(R_mats)}"
        )
    r = np.empty((S, A))
    for a, (Pa, Ra) in enumerate(zip(mats, R_mats, strict=True)):
        shape = Ra.shape if sp.issparse(Ra) else np.shape(Ra)
        if shape != (S, S):
            raise InvalidMDPError(f"R[{a}] must have shape (S, S) = {(S, S)}; got {shape}")
        if sp.issparse(Ra):
            Ra = sp.csr_array(Ra, dtype=np.float64)
            _check_finite(f"R[{a}]", Ra.data)
        else:
            Ra = _as_float_array(f"R[{a}]", Ra)
            _check_finite(f"R[{a}]", Ra)
        if sp.issparse(Ra):
            prod = Ra.multiply(Pa)
        elif sp.issparse(Pa):
            prod = sp.csr_array(Pa, dtype=np.float64).multiply(Ra)
        else:
            prod = _as_float_array("P", Pa) * Ra
        r[:, a] = np.asarray(prod.sum(axis=1)).ravel()
    return r


def to_mdptoolbox(mdp: TabularMDP) -> tuple[np.ndarray | list[sp.csr_matrix], np.ndarray]:
    """``(P, R)`` in pymdptoolbox's layout: ``P[a, s, s']`` and ``R[s, a]``.

    ``P`` is a dense ``(A, S, S)`` array for a dense MDP and a list of ``A`` ``(S, S)``
    ``scipy.sparse.csr_matrix`` for a sparse one (pymdptoolbox needs the ``*_matrix`` classes:
    it calls ``.todense().A1``, which ``csr_array`` lacks); ``R`` is ``(S, A)``.
    """
    S, A = mdp.n_states, mdp.n_actions
    R = np.array(mdp.rewards)
    if mdp.is_sparse:
        P = mdp.transitions
        return [sp.csr_matrix(P[np.arange(a, S * A, A)]) for a in range(A)], R
    return np.ascontiguousarray(mdp.transitions.transpose(1, 0, 2)), R

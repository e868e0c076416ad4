r"""Tabular Markov decision processes: discounted (:class:`TabularMDP`) and finite horizon.

Shapes (see ``docs/notation.md``): transitions ``P[s, a, s']`` are ``(S, A, S)`` dense, or a
``scipy.sparse`` CSR matrix of shape ``(S*A, S)`` whose row ``s*A + a`` is ``P[s, a, :]``;
rewards ``r[s, a]`` are ``(S, A)`` (an ``(S, A, S)`` array ``r[s, a, s']`` is reduced to its
expectation :math:`r(s, a) = \sum_{s'} P(s' | s, a) r(s, a, s')`); the initial distribution
``rho`` is ``(S,)`` (uniform when omitted).

**Infeasible actions.**  A state may have fewer actions than ``A``: an action is infeasible in
a state when its reward is ``-inf`` (quantecon's convention) or ``action_mask[s, a]`` is False
(gymnasium's convention: True = available).  The transition row of an infeasible action may be
all zero (or any distribution: it is never used).  Infeasible pairs are stored with reward
``-inf``, so ``q(s, a) = -inf`` there and every maximum over actions skips them; every state
needs at least one feasible action.  Policies must put no mass on infeasible actions.
:meth:`TabularMDP.from_sa_pairs` builds a model from quantecon's state-action-pair form (``L``
feasible pairs) and :meth:`TabularMDP.to_sa_pairs` converts back.

Problems are validated once, when built: every violation raises :class:`InvalidMDPError` (a
``ValueError``) whose message names the field and the first offending index.  Validation of a
sparse problem costs O(nnz): the dense array is never formed.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_real

__all__ = ["FiniteHorizonMDP", "InvalidMDPError", "TabularMDP", "validate_policy"]

ROW_SUM_TOL = 1e-8


class InvalidMDPError(ValueError):
    """A problem definition violates the conventions (shape, probabilities, gamma, ...)."""


def _index(flat: int, shape: tuple[int, ...]) -> str:
    return ", ".join(str(int(i)) for i in np.unravel_index(flat, shape))


def _check_finite(name: str, x: np.ndarray, hint: str = "") -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        flat = int(np.flatnonzero(bad)[0])
        raise InvalidMDPError(
            f"{name}[{_index(flat, x.shape)}] is {x.flat[flat]}; entries must be finite{hint}"
        )


def _check_distribution(
    name: str, x: np.ndarray, what: str = "probabilities", empty_rows: list | None = None
) -> None:
    """``x`` has distributions along its last axis: finite, non-negative, summing to one.

    With ``empty_rows`` (a list), all-zero rows pass and their flat indices are appended."""
    _check_finite(name, x)
    neg = x < 0
    if neg.any():
        flat = int(np.flatnonzero(neg)[0])
        raise InvalidMDPError(
            f"{name}[{_index(flat, x.shape)}] = {x.flat[flat]:.6g} is negative; {what} must be >= 0"
        )
    sums = x.sum(axis=-1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOL
    if empty_rows is not None:
        empty_rows.append(np.flatnonzero(sums.ravel() == 0.0))
        off &= sums != 0.0
    if off.any():
        flat = int(np.flatnonzero(off)[0])
        idx = _index(flat, sums.shape)
        idx = f"{idx}, :" if idx else ":"
        raise InvalidMDPError(
            f"{name}[{idx}] sums to {sums.flat[flat]:.12g}; {what} must sum to 1 "
            f"(tolerance {ROW_SUM_TOL:g})"
        )


def _check_gamma(gamma: Any) -> float:
    """``gamma`` as a float in ``[0, 1)``; strings, bools, None and complex numbers are refused."""
    try:
        return as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)
    except ValueError as exc:
        raise InvalidMDPError(str(exc)) from None


def _as_float_array(name: str, x: Any) -> np.ndarray:
    """``x`` as float64; only integer and real floating arrays are accepted (no strings, bools,
    complex numbers or objects, which ``np.asarray(x, dtype=float)`` would convert silently)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidMDPError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise InvalidMDPError(
            f"{name} must be a numeric array of real numbers (integer or float dtype), got "
            f"dtype {arr.dtype}"
        )
    return arr.astype(np.float64, copy=False)


def _freeze(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    x.flags.writeable = False
    return x


def _validated_transitions(
    transitions: Any, empty_rows: list | None = None
) -> tuple[np.ndarray | sp.csr_array, int, int]:
    """Validate transitions; return (dense (S, A, S) or CSR (S*A, S), S, A).

    With ``empty_rows`` (a list), rows summing to exactly 0 pass the row-sum check and their
    flat indices ``s*A + a`` are appended to it, as a ``(k,)`` int array: the caller checks
    that those actions are infeasible."""
    if sp.issparse(transitions):
        if transitions.dtype.kind not in "iuf":
            raise InvalidMDPError(
                "transitions must be a numeric array of real numbers (integer or float dtype), "
                f"got dtype {transitions.dtype}"
            )
        P = sp.csr_array(transitions, dtype=np.float64)
        if P.ndim != 2:
            raise InvalidMDPError(f"sparse transitions must be 2-D (S*A, S), got ndim {P.ndim}")
        n_rows, S = P.shape
        if S == 0:
            raise InvalidMDPError("transitions has no states (S = 0)")
        if n_rows == 0:
            raise InvalidMDPError("transitions has no actions (A = 0); every state needs one")
        if n_rows % S:
            raise InvalidMDPError(
                f"sparse transitions must have shape (S*A, S); got {P.shape}, and {n_rows} rows "
                f"is not a multiple of S = {S}"
            )
        A = n_rows // S
        P.sum_duplicates()
        P.sort_indices()
        row_of = np.repeat(np.arange(n_rows), np.diff(P.indptr))
        bad = ~np.isfinite(P.data)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            s, a = divmod(int(row_of[k]), A)
            raise InvalidMDPError(
                f"transitions[{s}, {a}, {int(P.indices[k])}] is {P.data[k]}; entries must be finite"
            )
        neg = P.data < 0
        if neg.any():
            k = int(np.flatnonzero(neg)[0])
            s, a = divmod(int(row_of[k]), A)
            raise InvalidMDPError(
                f"transitions[{s}, {a}, {int(P.indices[k])}] = {P.data[k]:.6g} is negative; "
                "probabilities must be >= 0"
            )
        sums = np.bincount(row_of, weights=P.data, minlength=n_rows)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if empty_rows is not None:
            empty_rows.append(np.flatnonzero(sums == 0.0))
            off &= sums != 0.0
        if off.any():
            s, a = divmod(int(np.flatnonzero(off)[0]), A)
            raise InvalidMDPError(
                f"transitions[{s}, {a}, :] sums to {sums[s * A + a]:.12g}; probabilities must "
                f"sum to 1 (tolerance {ROW_SUM_TOL:g})"
            )
        P.data.flags.writeable = False
        return P, S, A
    P = _as_float_array("transitions", transitions)
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise InvalidMDPError(
            "transitions must be a dense array of shape (S, A, S) or a scipy.sparse matrix of "
            f"shape (S*A, S); got dense shape {P.shape}"
        )
    S, A, _ = P.shape
    if S == 0:
        raise InvalidMDPError("transitions has no states (S = 0)")
    if A == 0:
        raise InvalidMDPError("transitions has no actions (A = 0); every state needs one")
    _check_distribution("transitions", P, empty_rows=empty_rows)
    return _freeze(P), S, A


def _reduced_rewards(rewards: Any, P: np.ndarray | sp.csr_array, S: int, A: int) -> np.ndarray:
    """``(S, A)`` expected rewards; ``-inf`` entries (whole rows ``r[s, a, :]`` of an ``(S, A,
    S)`` array) mark infeasible actions and are kept as ``-inf``."""
    r = _as_float_array("rewards", rewards)
    if r.shape == (S, A, S):
        off = np.isneginf(r).all(axis=2)  # (S, A): the action is infeasible
        r3 = np.where(off[:, :, None], 0.0, r) if off.any() else r
        _check_finite("rewards", r3, _INFEASIBLE_HINT_SAS)
        if sp.issparse(P):
            r = np.asarray(P.multiply(r3.reshape(S * A, S)).sum(axis=1)).reshape(S, A)
        else:
            r = np.einsum("ijk,ijk->ij", P, r3)
        if off.any():
            r = np.where(off, -np.inf, r)
    elif r.shape != (S, A):
        raise InvalidMDPError(
            f"rewards must have shape (S, A) = {(S, A)} or (S, A, S) = {(S, A, S)}; got {r.shape}"
        )
    _check_finite("rewards", np.where(np.isneginf(r), 0.0, r), _INFEASIBLE_HINT)
    return _freeze(r)


_INFEASIBLE_HINT = " (or -inf for an infeasible action)"
_INFEASIBLE_HINT_SAS = " (or -inf in a whole row r[s, a, :] for an infeasible action)"


def _feasible_actions(
    action_mask: Any,
    rewards: np.ndarray,
    empty_rows: np.ndarray,
    rows_shape: tuple[int, ...],
    name: str = "action_mask",
) -> np.ndarray:
    """``(..., S, A)`` bool: ``action_mask`` (True = available) and a reward above ``-inf``.

    Checks that every state has a feasible action and that every all-zero transition row
    (``empty_rows``: flat indices into ``rows_shape``) belongs to an infeasible action; raises
    :class:`InvalidMDPError` naming the state otherwise."""
    feasible = ~np.isneginf(rewards)
    if action_mask is not None:
        m = np.asarray(action_mask)
        if m.dtype != np.bool_ and not (
            m.dtype.kind in "iu" and m.size and np.isin(m, (0, 1)).all()
        ):
            raise InvalidMDPError(
                f"{name} must be a boolean array (True = the action is available), got dtype "
                f"{m.dtype}"
            )
        if m.shape != rewards.shape[-m.ndim :] or m.ndim < 2:
            raise InvalidMDPError(
                f"{name} must have shape {rewards.shape[-2:]} (S, A) or the rewards' shape "
                f"{rewards.shape}; got {m.shape}"
            )
        feasible = feasible & m.astype(bool)
    none = ~feasible.any(axis=-1)
    if none.any():
        flat = int(np.flatnonzero(none)[0])
        idx = _index(flat, none.shape)
        raise InvalidMDPError(
            f"state {idx} has no feasible action: every rewards[{idx}, :] is -inf or "
            f"{name}[{idx}, :] is False; every state needs at least one available action"
        )
    if empty_rows.size:
        # rows_shape: (S, A) for stationary transitions (an empty row must then be infeasible
        # at every step), (H, S, A) for per-step ones
        f = np.broadcast_to(feasible, np.broadcast_shapes(feasible.shape, rows_shape))
        f = f.reshape((-1,) + rows_shape).any(axis=0) if f.ndim > len(rows_shape) else f
        bad = f.ravel()[empty_rows]
        if bad.any():
            k = int(empty_rows[np.flatnonzero(bad)[0]])
            raise InvalidMDPError(
                f"transitions[{_index(k, rows_shape)}, :] sums to 0; probabilities must sum to 1 "
                f"(tolerance {ROW_SUM_TOL:g}); a row may be empty only for an infeasible action "
                "(reward -inf or action_mask False)"
            )
    return feasible


REWARD_MEAN_TOL = 1e-9


def _set_reward_detail(mdp: Any, P: Any, S: int, A: int) -> None:
    """Keep ``r(s, a, s')`` and a per-``(s, a)`` reward law (validated, read-only), and check
    that the mean rewards agree with them (``ValueError`` naming the field otherwise)."""
    raw, sas, law = mdp.rewards, mdp.rewards_sas, mdp.reward_distribution
    if law is not None:
        if sas is not None or np.ndim(raw) == 3:
            raise InvalidMDPError(
                "reward_distribution: give either (S, A, S) rewards or a reward law per (s, a), "
                "not both"
            )
        if not isinstance(law, tuple) or len(law) != 2:
            raise InvalidMDPError("reward_distribution must be a pair (values_S_A_K, probs_S_A_K)")
        values = _as_float_array("reward_distribution values", law[0])
        probs = _as_float_array("reward_distribution probs", law[1])
        if values.ndim != 3 or values.shape[:2] != (S, A) or probs.shape != values.shape:
            raise InvalidMDPError(
                f"reward_distribution values and probs must both have shape (S, A, K) with "
                f"(S, A) = {(S, A)}; got {values.shape} and {probs.shape}"
            )
        _check_finite("reward_distribution values", values)
        _check_distribution("reward_distribution probs", probs)
        mean = np.einsum("sak,sak->sa", values, probs)
        object.__setattr__(mdp, "reward_distribution", (_freeze(values), _freeze(probs)))
        if raw is None:
            object.__setattr__(mdp, "rewards", mean)
            return
        _check_mean("reward_distribution", _as_float_array("rewards", raw), mean, S, A)
        return
    if sas is None and np.ndim(raw) == 3:
        sas = raw
    if sas is None:
        return
    sas = _as_float_array("rewards_sas", sas)
    if sas.shape != (S, A, S):
        raise InvalidMDPError(
            f"rewards_sas must have shape (S, A, S) = {(S, A, S)}; got {sas.shape}"
        )
    # a whole row of -inf marks an infeasible action (module docstring)
    _check_finite(
        "rewards_sas",
        np.where(np.isneginf(sas).all(axis=2, keepdims=True), 0.0, sas),
        _INFEASIBLE_HINT_SAS,
    )
    object.__setattr__(mdp, "rewards_sas", _freeze(sas))
    if np.ndim(raw) != 3:  # explicit rewards_sas (e.g. dataclasses.replace): the means must agree
        mean = _reduced_rewards(sas, P, S, A)
        _check_mean("rewards_sas", _as_float_array("rewards", raw), mean, S, A)


def _check_mean(field: str, r: np.ndarray, mean: np.ndarray, S: int, A: int) -> None:
    if r.shape != (S, A):
        return  # reported by _reduced_rewards
    off = np.abs(r - mean) > REWARD_MEAN_TOL * (1.0 + np.abs(mean))
    if off.any():
        s, a = np.argwhere(off)[0]
        raise InvalidMDPError(
            f"rewards[{s}, {a}] = {r[s, a]:.12g} is not the mean {mean[s, a]:.12g} of {field}"
        )


def _validated_rho(rho: Any, S: int, name: str = "initial_distribution") -> np.ndarray:
    if rho is None:
        return _freeze(np.full(S, 1.0 / S))
    rho = _as_float_array(name, rho)
    if rho.shape != (S,):
        raise InvalidMDPError(f"{name} must have shape (S,) = ({S},); got {rho.shape}")
    _check_distribution(name, rho)
    return _freeze(rho)


@dataclasses.dataclass(frozen=True, eq=False)
class TabularMDP:
    """A discounted tabular MDP ``(P, r, gamma, rho)``.

    Args:
        transitions: ``(S, A, S)`` array ``P[s, a, s']``, or a ``scipy.sparse`` matrix of shape
            ``(S*A, S)`` with row ``s*A + a`` holding ``P[s, a, :]`` (stored as CSR).
        rewards: ``(S, A)`` expected rewards, or ``(S, A, S)`` rewards ``r[s, a, s']`` (reduced to
            their expectation under ``P``).
        gamma: discount factor in ``[0, 1)``.
        initial_distribution: ``(S,)`` distribution ``rho`` of the first state; uniform if omitted.
        rewards_sas: ``(S, A, S)`` rewards ``r[s, a, s']``, kept when ``rewards`` is given in that
            shape (distributional routines use it; expected-value solvers use the mean in
            ``rewards``).  Given explicitly, ``rewards`` must be its mean under ``P``.
        reward_distribution: optional pair ``(values_S_A_K, probs_S_A_K)``: the law of the
            reward of ``(s, a)``, independent of the next state; ``rewards`` may then be
            ``None`` (filled with the mean) or must equal that mean.
        action_mask: ``(S, A)`` booleans, True where the action is available (default: every
            action whose reward is not ``-inf``).  Infeasible actions are stored with reward
            ``-inf`` and their transition rows may be all zero (module docstring); after
            construction ``action_mask`` is always the ``(S, A)`` feasibility array.

    Raises:
        InvalidMDPError: (a ``ValueError``) naming the field and first offending index; a state
            without any feasible action is named.

    Example:
        >>> import numpy as np
        >>> P = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
        >>> mdp = TabularMDP(P, np.array([[0.0, 1.0], [2.0, 2.0]]), gamma=0.5)
        >>> mdp.n_states, mdp.n_actions
        (2, 2)
    """

    transitions: np.ndarray | sp.csr_array
    rewards: np.ndarray
    gamma: float
    initial_distribution: np.ndarray | None = None
    rewards_sas: np.ndarray | None = dataclasses.field(default=None, repr=False)
    reward_distribution: tuple[np.ndarray, np.ndarray] | None = dataclasses.field(
        default=None, repr=False
    )
    action_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        empty: list = []
        P, S, A = _validated_transitions(self.transitions, empty)
        object.__setattr__(self, "transitions", P)
        _set_reward_detail(self, P, S, A)
        r = _reduced_rewards(self.rewards, P, S, A)
        feasible = _feasible_actions(self.action_mask, r, empty[0], (S, A))
        if not feasible.all():
            r = _freeze(np.where(feasible, r, -np.inf))
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "action_mask", _freeze(feasible))
        object.__setattr__(self, "gamma", _check_gamma(self.gamma))
        object.__setattr__(
            self, "initial_distribution", _validated_rho(self.initial_distribution, S)
        )

    @functools.cached_property
    def has_infeasible_actions(self) -> bool:
        """True when some state has an infeasible action (``action_mask`` is not all True)."""
        return not bool(self.action_mask.all())

    @functools.cached_property
    def reward_range(self) -> tuple[float, float]:
        """``(min, max)`` of ``r(s, a)`` over the feasible pairs."""
        r = self.rewards[self.action_mask] if self.has_infeasible_actions else self.rewards
        return float(r.min()), float(r.max())

    @classmethod
    def from_sa_pairs(
        cls,
        rewards: Any,
        transitions: Any,
        s_indices: Any,
        a_indices: Any,
        gamma: float,
        *,
        n_actions: int | None = None,
        initial_distribution: Any = None,
    ) -> TabularMDP:
        """A model from quantecon's state-action-pair form (``DiscreteDP(R, Q, beta, s_indices,
        a_indices)``): only the ``L`` feasible pairs are listed.

        Args:
            rewards: ``(L,)`` rewards ``r(s_indices[l], a_indices[l])``.
            transitions: ``(L, S)`` dense array or ``scipy.sparse`` matrix: row ``l`` is
                ``P[s_indices[l], a_indices[l], :]``.
            s_indices, a_indices: ``(L,)`` integer state and action of each pair; pairs may come
                in any order but not twice.  States may have different numbers of actions.
            gamma: discount factor in ``[0, 1)``.
            n_actions: ``A`` (default ``max(a_indices) + 1``).
            initial_distribution: ``(S,)``; uniform if omitted.

        Returns:
            :class:`TabularMDP` with ``A`` actions per state, the pairs not listed infeasible
            (``action_mask`` False, reward ``-inf``, empty transition row); dense ``(S, A, S)``
            transitions when ``transitions`` is dense, CSR ``(S*A, S)`` when sparse.

        Raises:
            InvalidMDPError: shapes that disagree, indices out of range, a repeated pair, a
                state with no pair; and everything the constructor checks.
        """
        sparse = sp.issparse(transitions)
        Q = sp.csr_array(transitions) if sparse else _as_float_array("transitions", transitions)
        if Q.ndim != 2:
            raise InvalidMDPError(
                f"transitions must be 2-D (L, S) in the state-action-pair form; got shape {Q.shape}"
            )
        L, S = Q.shape
        R = _as_float_array("rewards", rewards)
        if R.shape != (L,):
            raise InvalidMDPError(f"rewards must have shape (L,) = ({L},); got {R.shape}")
        idx = []
        for name, x, hi in (("s_indices", s_indices, S), ("a_indices", a_indices, None)):
            arr = np.asarray(x)
            if arr.dtype.kind not in "iu" or arr.shape != (L,):
                raise InvalidMDPError(
                    f"{name} must be (L,) = ({L},) integers; got dtype {arr.dtype}, shape "
                    f"{arr.shape}"
                )
            if L and (arr.min() < 0 or (hi is not None and arr.max() >= hi)):
                k = int(np.flatnonzero((arr < 0) | (arr >= (hi if hi is not None else 1 << 62)))[0])
                raise InvalidMDPError(
                    f"{name}[{k}] = {arr[k]} is out of range"
                    + (f" [0, S = {S})" if hi is not None else " (must be >= 0)")
                )
            idx.append(arr.astype(np.int64))
        s_idx, a_idx = idx
        A = int(a_idx.max()) + 1 if L else 0
        if n_actions is not None:
            try:
                n = as_int("n_actions", n_actions)
            except ValueError as exc:
                raise InvalidMDPError(str(exc)) from None
            if L and n < A:
                raise InvalidMDPError(f"n_actions = {n} but a_indices has action {A - 1}")
            A = n
        if A == 0:
            raise InvalidMDPError("the state-action-pair form lists no pair (L = 0)")
        flat = s_idx * A + a_idx
        counts = np.bincount(flat, minlength=S * A)
        if (counts > 1).any():
            k = int(np.flatnonzero(counts > 1)[0])
            raise InvalidMDPError(
                f"the pair (state {k // A}, action {k % A}) is listed {int(counts[k])} times in "
                "s_indices/a_indices; each pair at most once"
            )
        listed = counts.reshape(S, A) > 0
        missing = ~listed.any(axis=1)
        if missing.any():
            s = int(np.flatnonzero(missing)[0])
            raise InvalidMDPError(
                f"state {s} has no feasible action: s_indices never lists it; every state needs "
                "at least one pair"
            )
        r = np.full(S * A, -np.inf)
        r[flat] = R
        if sparse:
            Q.sum_duplicates()
            lengths = np.zeros(S * A, dtype=np.int64)
            lengths[flat] = np.diff(Q.indptr)
            indptr = np.concatenate([[0], np.cumsum(lengths)])
            Qs = sp.csr_array(Q[np.argsort(flat, kind="stable")])  # pairs in row order s*A + a
            P = sp.csr_array((Qs.data, Qs.indices, indptr), shape=(S * A, S))
        else:
            P = np.zeros((S * A, S))
            P[flat] = Q
            P = P.reshape(S, A, S)
        return cls(P, r.reshape(S, A), gamma, initial_distribution, action_mask=listed)

    def to_sa_pairs(
        self,
    ) -> tuple[np.ndarray, np.ndarray | sp.csr_array, np.ndarray, np.ndarray]:
        """quantecon's state-action-pair form of the feasible pairs, in order ``(s, a)``.

        Returns:
            ``(rewards (L,), transitions (L, S), s_indices (L,), a_indices (L,))``: dense
            transitions for a dense model, CSR for a sparse one; ``quantecon.markov.DiscreteDP(
            *pairs[:2], gamma, *pairs[2:])`` is the same model.
        """
        s_idx, a_idx = np.nonzero(self.action_mask)
        flat = s_idx * self.n_actions + a_idx
        P = self.transition_matrix[flat]
        return (
            np.array(self.rewards.ravel()[flat]),
            sp.csr_array(P) if self.is_sparse else np.array(P),
            s_idx.astype(np.int64),
            a_idx.astype(np.int64),
        )

    @property
    def n_states(self) -> int:
        """Number of states S."""
        return int(self.transitions.shape[-1])

    @property
    def n_actions(self) -> int:
        """Number of actions A."""
        return int(self.rewards.shape[1])

    @property
    def is_sparse(self) -> bool:
        """True when transitions are stored as CSR ``(S*A, S)``."""
        return sp.issparse(self.transitions)

    @property
    def nnz(self) -> int:
        """Stored transition entries (``S*A*S`` when dense)."""
        return int(self.transitions.nnz if self.is_sparse else self.transitions.size)

    @functools.cached_property
    def transition_matrix(self) -> np.ndarray | sp.csr_array:
        """Transitions as a 2-D ``(S*A, S)`` matrix (a dense view or the CSR itself)."""
        if self.is_sparse:
            return self.transitions
        return self.transitions.reshape(self.n_states * self.n_actions, self.n_states)

    def to_dense(self) -> TabularMDP:
        """The same MDP with dense ``(S, A, S)`` transitions."""
        if not self.is_sparse:
            return self
        P = self.transitions.toarray().reshape(self.n_states, self.n_actions, self.n_states)
        return dataclasses.replace(self, transitions=P)

    def to_sparse(self) -> TabularMDP:
        """The same MDP with CSR ``(S*A, S)`` transitions (explicit zeros dropped)."""
        if self.is_sparse:
            return self
        return dataclasses.replace(self, transitions=sp.csr_array(self.transition_matrix))

    def with_gamma(self, gamma: float) -> TabularMDP:
        """The same dynamics and rewards with another discount factor."""
        return dataclasses.replace(self, gamma=gamma)

    def policy_matrix(self, policy: Any) -> tuple[np.ndarray | sp.csr_array, np.ndarray]:
        """``(P_pi, r_pi)``: the ``(S, S)`` state chain and ``(S,)`` rewards under ``policy``.

        ``P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']`` (CSR when the MDP is sparse).  ``policy``
        must put no mass on infeasible actions.
        """
        pi = validate_policy(policy, self.n_states, self.n_actions, action_mask=self.action_mask)
        r_pi = np.einsum("sa,sa->s", pi, np.where(self.action_mask, self.rewards, 0.0))
        S, A = pi.shape
        if self.is_sparse:
            # Row s of P_pi is pi[s] @ P[s]: a block-diagonal (S, S*A) weight matrix times P.
            W = sp.csr_array((pi.ravel(), np.arange(S * A), np.arange(0, S * A + 1, A)), (S, S * A))
            return sp.csr_array(W @ self.transitions), r_pi
        return np.einsum("sa,sat->st", pi, self.transitions), r_pi

    def __repr__(self) -> str:
        kind = f"sparse, nnz={self.nnz}" if self.is_sparse else "dense"
        return f"TabularMDP(S={self.n_states}, A={self.n_actions}, gamma={self.gamma}, {kind})"


def validate_policy(
    policy: Any,
    n_states: int,
    n_actions: int,
    name: str = "policy",
    action_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``policy`` as a row-stochastic ``(S, A)`` (or batched ``(..., S, A)``) float array.

    Deterministic policies given as ``(S,)`` (or ``(..., S)``) integer actions are converted to
    one-hot rows.  Raises ``ValueError`` naming ``name`` and the offending index otherwise, and,
    with ``action_mask`` ``(S, A)`` (a model's feasible actions), when the policy puts mass on an
    infeasible action.
    """
    out = _validate_policy(policy, n_states, n_actions, name)
    if action_mask is not None and not action_mask.all():
        bad = (out > 0) & ~action_mask
        if bad.any():
            flat = int(np.flatnonzero(bad)[0])
            idx = np.unravel_index(flat, bad.shape)
            raise InvalidMDPError(
                f"{name}[{_index(flat, bad.shape)}] = {out.flat[flat]:.6g} puts mass on action "
                f"{int(idx[-1])}, which is infeasible in state {int(idx[-2])} "
                "(action_mask False / reward -inf)"
            )
    return out


def _validate_policy(policy: Any, n_states: int, n_actions: int, name: str) -> np.ndarray:
    arr = np.asarray(policy)
    if arr.dtype.kind in "iu" and arr.ndim >= 1 and arr.shape[-1] == n_states:
        if arr.size and (arr.min() < 0 or arr.max() >= n_actions):
            flat = int(np.flatnonzero((arr < 0) | (arr >= n_actions))[0])
            raise InvalidMDPError(
                f"{name}[{_index(flat, arr.shape)}] = {arr.flat[flat]} is not an action in "
                f"[0, {n_actions})"
            )
        out = np.zeros(arr.shape + (n_actions,))
        np.put_along_axis(out, arr[..., None], 1.0, axis=-1)
        return out
    arr = _as_float_array(name, arr)
    if arr.ndim < 2 or arr.shape[-2:] != (n_states, n_actions):
        raise InvalidMDPError(
            f"{name} must have shape (S, A) = {(n_states, n_actions)} (optionally with leading "
            f"batch axes) or be (S,) integer actions; got shape {arr.shape} dtype {arr.dtype}"
        )
    _check_distribution(name, arr)
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class FiniteHorizonMDP:
    r"""A finite-horizon tabular MDP with horizon ``H``, undiscounted by default.

    Args:
        transitions: stationary ``(S, A, S)`` (or CSR ``(S*A, S)``) or per-step ``(H, S, A, S)``.
        rewards: stationary ``(S, A)`` or per-step ``(H, S, A)``.
        horizon: number of decision steps ``H >= 1``.
        initial_distribution: ``(S,)``; uniform if omitted.
        gamma: discount in ``[0, 1]`` of the return :math:`\sum_{h<H}\gamma^h r_h`
            (default 1: undiscounted; pymdptoolbox's ``FiniteHorizon`` takes a discount).
        action_mask: ``(S, A)`` or ``(H, S, A)`` booleans, True where the action is available;
            as for :class:`TabularMDP`, rewards of ``-inf`` also mark infeasible actions, whose
            transition rows may be all zero (for stationary transitions: only if the action is
            infeasible at every step).  Stored as the feasibility array of the rewards' shape.

    Step ``h`` (``0 <= h < H``) uses ``transitions_at(h)`` and ``rewards_at(h)``.
    """

    transitions: np.ndarray | sp.csr_array
    rewards: np.ndarray
    horizon: int
    initial_distribution: np.ndarray | None = None
    gamma: float = 1.0
    action_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        try:
            H = as_int("horizon", self.horizon)
            gamma = as_real("gamma", self.gamma, minimum=0.0, maximum=1.0)
        except ValueError as exc:
            raise InvalidMDPError(str(exc)) from None
        object.__setattr__(self, "horizon", H)
        object.__setattr__(self, "gamma", gamma)
        P = self.transitions
        if not sp.issparse(P) and np.ndim(P) == 4:
            P = _as_float_array("transitions", P)
            if P.shape[0] != H or P.shape[1] != P.shape[3]:
                raise InvalidMDPError(
                    f"per-step transitions must have shape (H, S, A, S) with H = {H}; got {P.shape}"
                )
            if P.shape[1] == 0 or P.shape[2] == 0:
                raise InvalidMDPError(f"transitions has an empty state or action set: {P.shape}")
            empty: list = []
            _check_distribution("transitions", P, empty_rows=empty)
            P = _freeze(P)
            S, A = P.shape[1], P.shape[2]
            rows_shape: tuple[int, ...] = (H, S, A)
        else:
            empty = []
            P, S, A = _validated_transitions(P, empty)
            rows_shape = (S, A)
        object.__setattr__(self, "transitions", P)
        r = _as_float_array("rewards", self.rewards)
        if r.shape not in ((S, A), (H, S, A)):
            raise InvalidMDPError(
                f"rewards must have shape (S, A) = {(S, A)} or (H, S, A) = {(H, S, A)}; "
                f"got {r.shape}"
            )
        _check_finite("rewards", np.where(np.isneginf(r), 0.0, r), _INFEASIBLE_HINT)
        mask = self.action_mask
        if mask is not None and np.ndim(mask) == 3 and r.ndim == 2:
            r = np.broadcast_to(r, (H, S, A))  # per-step availability: per-step rewards
        feasible = _feasible_actions(mask, r, empty[0], rows_shape)
        if not feasible.all():
            r = np.where(feasible, r, -np.inf)
        object.__setattr__(self, "rewards", _freeze(r))
        object.__setattr__(self, "action_mask", _freeze(feasible))
        object.__setattr__(
            self, "initial_distribution", _validated_rho(self.initial_distribution, S)
        )

    @property
    def n_states(self) -> int:
        return int(self.rewards.shape[-2])

    @property
    def n_actions(self) -> int:
        return int(self.rewards.shape[-1])

    @property
    def is_stationary(self) -> bool:
        """True when one transition kernel serves every step."""
        return sp.issparse(self.transitions) or self.transitions.ndim == 3

    def transitions_at(self, h: int) -> np.ndarray | sp.csr_array:
        """Transitions used at step ``h``: ``(S, A, S)`` dense or CSR ``(S*A, S)``."""
        return self.transitions if self.is_stationary else self.transitions[h]

    def rewards_at(self, h: int) -> np.ndarray:
        """``(S, A)`` rewards at step ``h``."""
        return self.rewards if self.rewards.ndim == 2 else self.rewards[h]

    def __repr__(self) -> str:
        kind = "stationary" if self.is_stationary else "per-step"
        disc = "" if self.gamma == 1.0 else f", gamma={self.gamma}"
        return (
            f"FiniteHorizonMDP(S={self.n_states}, A={self.n_actions}, H={self.horizon}, {kind}"
            f"{disc})"
        )

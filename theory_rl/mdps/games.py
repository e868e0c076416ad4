r"""Preference games: pairwise preferences over a finite response set, optionally per context.

A **preference game** (Munos et al. 2024, §3) is given, for each context :math:`x`, by a matrix
of preference probabilities over ``Y`` responses,

.. math::  P_x[y, y'] = \Pr(y \succ y' \mid x), \qquad P_x + P_x^\top = 1, \quad
           P_x[y, y] = \tfrac12,

a reference policy :math:`\pi_{\mathrm{ref}}(\cdot \mid x)` and a regularisation strength
:math:`\beta \ge 0`.  Player one plays :math:`\pi`, player two :math:`\pi'`, and the payoff
(to player one) of the KL-regularised game is

.. math::  f_\beta(\pi, \pi') = \mathbb{E}_{x \sim \rho}\big[ \pi_x^\top P_x \pi'_x
           - \beta\, \mathrm{KL}(\pi_x \| \pi_{\mathrm{ref},x})
           + \beta\, \mathrm{KL}(\pi'_x \| \pi_{\mathrm{ref},x}) \big],

a symmetric constant-sum game of value 1/2.  It separates over contexts.  For ``beta > 0`` it
has a unique symmetric equilibrium :math:`\pi^*_\beta(y) \propto \pi_{\mathrm{ref}}(y)
\exp(P(y \succ \pi^*_\beta)/\beta)` (solved in :mod:`theory_rl.algorithms.nash`).

Shapes: ``preferences`` ``(X, Y, Y)`` (a ``(Y, Y)`` input is one context), ``reference_policy``
``(X, Y)`` (a ``(Y,)`` input is shared by all contexts), ``contexts`` ``(X,)`` the context
distribution :math:`\rho` (uniform when omitted).  A game is validated once, when built; a
violation raises :class:`InvalidGameError` (a ``ValueError``) naming the field and the index.

Generators (all seeded through :func:`theory_rl.backend.as_generator`):

* :func:`random_preference_game` -- :math:`P = \sigma(S)` with :math:`S` skew-symmetric
  Gaussian (general intransitive preferences);
* :func:`cyclic_preference_game` -- rock-paper-scissors and its odd-``Y`` generalisation
  (every response beats the next ``(Y-1)/2`` responses cyclically): no Bradley-Terry reward;
* :func:`bradley_terry_game` -- :math:`P[y, y'] = \sigma(r_y - r_{y'})`: here the unregularised
  equilibrium is the reward maximiser, so RLHF and NLHF agree at ``beta = 0``;
* :func:`condorcet_disagreement_game` -- a Condorcet winner that a least-squares
  Bradley-Terry fit does not rank first: RLHF (reward maximisation) and NLHF disagree.

:func:`bradley_terry_fit` fits rewards to a game (least squares on the logits, the Bradley-Terry
log-odds) and reports the residual: zero exactly when the game is Bradley-Terry.

References:
    R. Munos et al. Nash learning from human feedback. ICML 2024, arXiv:2312.00886.
    D. Tiapkin et al. Accelerating Nash learning from human feedback via Mirror Prox.
    arXiv:2505.19731 v1, 2025.
    R. A. Bradley, M. E. Terry. Rank analysis of incomplete block designs. Biometrika 1952.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.special import expit, logit

from theory_rl._checks import as_int
from theory_rl.backend import as_generator

__all__ = [
    "InvalidGameError",
    "PreferenceGame",
    "bradley_terry_fit",
    "bradley_terry_game",
    "condorcet_disagreement_game",
    "cyclic_preference_game",
    "random_preference_game",
]

#: Tolerance of the validation checks (complementarity, diagonal, sums to one).
GAME_TOL = 1e-8

Seed = int | np.random.SeedSequence | np.random.Generator | None


class InvalidGameError(ValueError):
    """A preference game violates the conventions (shape, probabilities, complementarity)."""


def _index(flat: int, shape: tuple[int, ...]) -> str:
    return ", ".join(str(int(i)) for i in np.unravel_index(flat, shape))


def _first(name: str, bad: np.ndarray, x: np.ndarray, what: str) -> None:
    if bad.any():
        flat = int(np.flatnonzero(bad)[0])
        raise InvalidGameError(f"{name}[{_index(flat, bad.shape)}] = {x.flat[flat]!r}; {what}")


def _float_array(name: str, x: Any) -> np.ndarray:
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidGameError(f"{name} must be a numeric array: {exc}") from None
    _first(name, ~np.isfinite(arr), arr, "entries must be finite")
    return arr


def _distribution(name: str, x: np.ndarray, *, positive: bool) -> None:
    if positive:
        _first(name, x <= 0, x, "entries must be > 0 (KL to it must be finite)")
    else:
        _first(name, x < 0, x, "entries must be >= 0")
    sums = x.sum(axis=-1)
    off = np.abs(sums - 1.0) > GAME_TOL
    if off.any():
        flat = int(np.flatnonzero(off)[0])
        idx = _index(flat, sums.shape)
        raise InvalidGameError(
            f"{name}[{idx + ', ' if idx else ''}:] sums to {sums.flat[flat]:.12g}; must sum to 1 "
            f"(tolerance {GAME_TOL:g})"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class PreferenceGame:
    r"""A KL-regularised preference game over ``Y`` responses and ``X`` contexts.

    Args:
        preferences: ``(X, Y, Y)`` or ``(Y, Y)``: ``preferences[x, y, y'] = P(y > y' | x)``,
            entries in ``[0, 1]``, ``P + P^T = 1`` off the diagonal and ``1/2`` on it (within
            ``1e-8``; stored exactly complementary, ``(P + 1 - P^T)/2``).
        reference_policy: ``(X, Y)`` or ``(Y,)`` (shared), rows on the simplex, entries
            ``> 0`` when ``beta > 0``.
        beta: the regularisation strength, ``>= 0`` (``0`` is the unregularised game).
        contexts: ``(X,)`` the context distribution; uniform when omitted.

    Attributes ``preferences``, ``reference_policy`` and ``contexts`` are stored as read-only
    ``(X, Y, Y)``, ``(X, Y)`` and ``(X,)`` float64 arrays.

    Example:
        >>> g = PreferenceGame([[0.5, 0.7], [0.3, 0.5]], [0.5, 0.5], beta=0.1)
        >>> g.n_contexts, g.n_responses
        (1, 2)
    """

    preferences: np.ndarray
    reference_policy: np.ndarray
    beta: float
    contexts: np.ndarray | None = None

    def __post_init__(self) -> None:
        P = _float_array("preferences", self.preferences)
        if P.ndim == 2:
            P = P[None]
        if P.ndim != 3 or P.shape[1] != P.shape[2] or P.shape[1] < 1:
            raise InvalidGameError(
                f"preferences must have shape (X, Y, Y) or (Y, Y), got {np.shape(self.preferences)}"
            )
        X, Y = P.shape[0], P.shape[1]
        _first("preferences", (P < 0) | (P > 1), P, "entries must be in [0, 1]")
        comp = np.abs(P + P.transpose(0, 2, 1) - 1.0) > GAME_TOL
        _first("preferences", comp, P, "P[y, y'] + P[y', y] must be 1 (and P[y, y] = 1/2)")
        P = 0.5 * (P + 1.0 - P.transpose(0, 2, 1))  # exactly complementary, 1/2 on the diagonal
        try:
            beta = float(self.beta)
        except (TypeError, ValueError):
            raise InvalidGameError(f"beta must be a real number >= 0, got {self.beta!r}") from None
        if not (np.isfinite(beta) and beta >= 0):
            raise InvalidGameError(f"beta must be finite and >= 0, got {beta}")
        ref = _float_array("reference_policy", self.reference_policy)
        if ref.ndim == 1:
            ref = np.broadcast_to(ref, (X, ref.shape[0])).copy()
        if ref.shape != (X, Y):
            raise InvalidGameError(
                f"reference_policy must have shape ({X}, {Y}) or ({Y},), got "
                f"{np.shape(self.reference_policy)}"
            )
        _distribution("reference_policy", ref, positive=beta > 0)
        if self.contexts is None:
            rho = np.full(X, 1.0 / X)
        else:
            rho = _float_array("contexts", self.contexts)
            if rho.shape != (X,):
                raise InvalidGameError(f"contexts must have shape ({X},), got {rho.shape}")
            _distribution("contexts", rho, positive=False)
        for name, arr in (("preferences", P), ("reference_policy", ref), ("contexts", rho)):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "beta", beta)

    @property
    def n_contexts(self) -> int:
        """``X``."""
        return int(self.preferences.shape[0])

    @property
    def n_responses(self) -> int:
        """``Y``."""
        return int(self.preferences.shape[1])

    def with_beta(self, beta: float) -> PreferenceGame:
        """The same preferences and reference policy at another regularisation strength."""
        return PreferenceGame(self.preferences, self.reference_policy, beta, self.contexts)

    def __repr__(self) -> str:
        return (
            f"PreferenceGame(n_contexts={self.n_contexts}, n_responses={self.n_responses}, "
            f"beta={self.beta:g})"
        )


def _reference(rng: np.random.Generator, X: int, Y: int, reference: str) -> np.ndarray:
    if reference == "uniform":
        return np.full((X, Y), 1.0 / Y)
    if reference == "dirichlet":
        # Floor at 1e-12 (then renormalise): Dirichlet(1) can draw entries that underflow.
        ref = np.maximum(rng.dirichlet(np.ones(Y), size=X), 1e-12)
        return ref / ref.sum(axis=1, keepdims=True)
    raise ValueError(f'reference must be "uniform" or "dirichlet", got {reference!r}')


def random_preference_game(
    n_responses: int,
    *,
    beta: float,
    n_contexts: int = 1,
    scale: float = 3.0,
    reference: str = "dirichlet",
    seed: Seed = None,
) -> PreferenceGame:
    r"""A random game :math:`P = \sigma(S)`, :math:`S = (G - G^\top)/\sqrt2` with :math:`G_{ij}
    \sim N(0, \mathrm{scale}^2)` i.i.d. (so :math:`S_{ij} \sim N(0, \mathrm{scale}^2)`).

    Draw order: per context ``G`` ``(X, Y, Y)``, then the reference policy (Dirichlet(1) rows,
    or uniform with ``reference="uniform"``).  Generic: intransitive, no Bradley-Terry reward.

    Example:
        >>> random_preference_game(4, beta=0.1, seed=0).preferences.shape
        (1, 4, 4)
    """
    Y, X = as_int("n_responses", n_responses), as_int("n_contexts", n_contexts)
    rng = as_generator(seed)
    G = rng.normal(scale=float(scale), size=(X, Y, Y))
    S = (G - G.transpose(0, 2, 1)) / np.sqrt(2.0)
    return PreferenceGame(expit(S), _reference(rng, X, Y, reference), beta)


def cyclic_preference_game(
    n_responses: int = 3,
    *,
    beta: float,
    margin: float = 0.4,
    reference: str = "uniform",
    seed: Seed = None,
) -> PreferenceGame:
    r"""Rock-paper-scissors and its odd-``Y`` generalisation: response ``y`` beats
    :math:`y + 1, \dots, y + (Y-1)/2 \pmod Y` with probability :math:`\tfrac12 + \mathrm{margin}`.

    Every response beats exactly half of the others, so the unregularised equilibrium is
    uniform, and no Bradley-Terry reward exists: :math:`\sigma(r_0 - r_1) > 1/2`,
    :math:`\sigma(r_1 - r_2) > 1/2`, :math:`\sigma(r_2 - r_0) > 1/2` would need
    :math:`r_0 > r_1 > r_2 > r_0`.

    Args:
        n_responses: odd ``Y >= 3``.
        margin: in ``(0, 1/2]``.
        reference: ``"uniform"`` (default, deterministic) or ``"dirichlet"`` (drawn from seed).
    """
    Y = as_int("n_responses", n_responses, 3)
    if Y % 2 == 0:
        raise ValueError(f"n_responses must be odd for a cyclic game, got {Y}")
    if not 0 < margin <= 0.5:
        raise ValueError(f"margin must be in (0, 1/2], got {margin}")
    d = (np.arange(Y)[None, :] - np.arange(Y)[:, None]) % Y  # d[y, y'] = y' - y mod Y
    P = np.full((Y, Y), 0.5)
    P[(d >= 1) & (d <= (Y - 1) // 2)] = 0.5 + margin
    P[d > (Y - 1) // 2] = 0.5 - margin
    return PreferenceGame(P, _reference(as_generator(seed), 1, Y, reference), beta)


def bradley_terry_game(
    rewards: Any, *, beta: float, reference_policy: Any = None
) -> PreferenceGame:
    r"""The game of a Bradley-Terry model, :math:`P[y, y'] = \sigma(r_y - r_{y'})`.

    ``rewards`` ``(Y,)`` or ``(X, Y)``; the reference policy is uniform when omitted.  The
    response of largest reward is a Condorcet winner (it beats every other with probability
    ``> 1/2``), so the unregularised equilibrium is the reward maximiser: RLHF and NLHF agree
    at ``beta = 0``.  (At ``beta > 0`` they still differ: RLHF's
    :math:`\pi \propto \pi_{\mathrm{ref}} e^{r/\beta}` is not :math:`\pi^*_\beta`.)
    """
    r = _float_array("rewards", rewards)
    if r.ndim == 1:
        r = r[None]
    if r.ndim != 2:
        raise ValueError(f"rewards must have shape (Y,) or (X, Y), got {np.shape(rewards)}")
    P = expit(r[:, :, None] - r[:, None, :])
    ref = np.full(r.shape, 1.0 / r.shape[1]) if reference_policy is None else reference_policy
    return PreferenceGame(P, ref, beta)


def condorcet_disagreement_game(
    n_responses: int = 4, *, beta: float, margin: float = 0.05, dominance: float = 0.45
) -> PreferenceGame:
    r"""A game where the Condorcet winner is not the best response under a Bradley-Terry fit.

    Response 0 beats every other response narrowly (:math:`\tfrac12 + \mathrm{margin}`);
    response 1 loses narrowly to 0 but beats responses ``2..Y-1`` by a wide margin
    (:math:`\tfrac12 + \mathrm{dominance}`); responses ``2..Y-1`` tie among themselves.  The
    unregularised equilibrium is pure on response 0 (it beats every response), while the
    least-squares Bradley-Terry reward (:func:`bradley_terry_fit`) ranks response 1 first
    when ``dominance`` is large enough: reward maximisation (RLHF) picks 1, NLHF picks 0.
    """
    Y = as_int("n_responses", n_responses, 3)
    if not (0 < margin < 0.5 and 0 < dominance < 0.5):
        raise ValueError(f"margin and dominance must be in (0, 1/2), got {margin}, {dominance}")
    P = np.full((Y, Y), 0.5)
    P[0, 1:] = 0.5 + margin
    P[1, 2:] = 0.5 + dominance
    P = np.triu(P, 1) + np.tril(1.0 - P.T, -1) + 0.5 * np.eye(Y)
    return PreferenceGame(P, np.full(Y, 1.0 / Y), beta)


def bradley_terry_fit(game: PreferenceGame) -> tuple[np.ndarray, np.ndarray]:
    r"""Least-squares Bradley-Terry rewards for each context, and the misfit.

    The Bradley-Terry model says :math:`\mathrm{logit}\,P[y, y'] = r_y - r_{y'}`.  The logit
    matrix :math:`L` is skew-symmetric; its least-squares projection onto
    :math:`\{r 1^\top - 1 r^\top\}` is :math:`r = L \mathbf 1 / Y` (centred).  The residual
    :math:`\max_{y,y'} |L_{yy'} - (r_y - r_{y'})|` is 0 exactly when the game is Bradley-Terry.

    Returns:
        ``(rewards, residual)``: ``(X, Y)`` centred rewards and ``(X,)`` max-abs logit misfit.

    Raises:
        ValueError: if some preference is exactly 0 or 1 (infinite log-odds).
    """
    P = game.preferences
    if np.any((P <= 0) | (P >= 1)):
        raise ValueError("preferences must lie in (0, 1) for a Bradley-Terry fit (finite logits)")
    L = logit(P)
    r = L.mean(axis=2)
    residual = np.abs(L - (r[:, :, None] - r[:, None, :])).max(axis=(1, 2))
    return r, residual

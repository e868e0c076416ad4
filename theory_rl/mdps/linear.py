r"""Linear MDPs: transitions and rewards linear in known features.

A linear MDP (Yang & Wang 2019; Jin, Yang, Wang & Jordan 2020) has features
:math:`\phi(s, a) \in \mathbb{R}^d` (``features``, shape ``(S, A, d)``), an unknown signed
measure :math:`\mu` over next states (``mu``, shape ``(d, S)``) and a reward parameter
:math:`\theta \in \mathbb{R}^d` (``theta``, shape ``(d,)``) with

.. math::
    P(s' \mid s, a) = \phi(s, a)^\top \mu[:, s'], \qquad r(s, a) = \phi(s, a)^\top \theta .

:class:`LinearMDP` stores the factors and validates, once, that the induced ``(S, A, S)``
kernel is a valid transition kernel, by building the :class:`TabularMDP` (so its errors name
the offending ``(s, a, s')``).  :func:`random_linear_mdp` draws an exact factorisation: every
:math:`\phi(s, a)` on the probability simplex and every row of :math:`\mu` a distribution
over states, so that each :math:`P(\cdot \mid s, a)` is a mixture of ``d`` distributions.

References:
    L. Yang, M. Wang. Sample-optimal parametric Q-learning using linearly additive features.
    ICML 2019, arXiv:1902.04779.
    C. Jin, Z. Yang, Z. Wang, M. Jordan. Provably efficient reinforcement learning with linear
    function approximation. COLT 2020, arXiv:1907.05388.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_rl._checks import as_int, as_real
from theory_rl.backend import as_generator
from theory_rl.mdps.generators import Seed
from theory_rl.mdps.tabular import (
    InvalidMDPError,
    TabularMDP,
    _as_float_array,
    _check_finite,
    _check_gamma,
    _freeze,
)

__all__ = ["LinearMDP", "random_linear_mdp"]

# Entries of phi^T mu in [-_CLIP, 0) are rounding noise of an exact factorisation with signed
# factors; they are set to 0 before validation.  Anything more negative is an error.
_CLIP = 1e-12


@dataclasses.dataclass(frozen=True, eq=False)
class LinearMDP:
    r"""A discounted linear MDP ``(phi, mu, theta, gamma, rho)``.

    Args:
        features: ``(S, A, d)`` array ``phi[s, a, :]``.
        mu: ``(d, S)`` array; ``P[s, a, s'] = phi[s, a] @ mu[:, s']``.
        theta: ``(d,)`` array; ``r[s, a] = phi[s, a] @ theta``.
        gamma: discount factor in ``[0, 1)``.
        initial_distribution: ``(S,)``; uniform if omitted.

    Entries of the induced kernel in ``[-1e-12, 0)`` (rounding of an exact factorisation with
    signed factors) are set to zero; otherwise the kernel must pass :class:`TabularMDP`'s
    validation, whose error is re-raised naming the factorisation.

    Example:
        >>> import numpy as np
        >>> phi = np.array([[[1.0, 0.0], [0.0, 1.0]]])          # S=1, A=2, d=2
        >>> m = LinearMDP(phi, np.ones((2, 1)), np.array([0.5, 1.0]), gamma=0.9)
        >>> m.to_tabular().rewards
        array([[0.5, 1. ]])
    """

    features: np.ndarray
    mu: np.ndarray
    theta: np.ndarray
    gamma: float
    initial_distribution: np.ndarray | None = None
    _tabular: TabularMDP = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            as_real("gamma", self.gamma, minimum=0.0, maximum=1.0, open_maximum=True)
        except ValueError as exc:
            raise InvalidMDPError(str(exc)) from None
        phi = _as_float_array("features", self.features)
        if phi.ndim != 3 or 0 in phi.shape:
            raise InvalidMDPError(
                f"features must have shape (S, A, d) with S, A, d >= 1; got {phi.shape}"
            )
        S, A, d = phi.shape
        mu = _as_float_array("mu", self.mu)
        if mu.shape != (d, S):
            raise InvalidMDPError(f"mu must have shape (d, S) = {(d, S)}; got {mu.shape}")
        theta = _as_float_array("theta", self.theta)
        if theta.shape != (d,):
            raise InvalidMDPError(f"theta must have shape (d,) = ({d},); got {theta.shape}")
        for name, x in (("features", phi), ("mu", mu), ("theta", theta)):
            _check_finite(name, x)
        P = (phi.reshape(S * A, d) @ mu).reshape(S, A, S)
        P[(P < 0) & (P >= -_CLIP)] = 0.0
        r = phi @ theta
        try:
            tab = TabularMDP(P, r, self.gamma, self.initial_distribution)
        except InvalidMDPError as exc:
            raise InvalidMDPError(
                f"the kernel P[s, a, s'] = features[s, a] @ mu[:, s'] is invalid: {exc}"
            ) from None
        object.__setattr__(self, "features", _freeze(phi))
        object.__setattr__(self, "mu", _freeze(mu))
        object.__setattr__(self, "theta", _freeze(theta))
        object.__setattr__(self, "gamma", tab.gamma)
        object.__setattr__(self, "initial_distribution", tab.initial_distribution)
        object.__setattr__(self, "_tabular", tab)

    @property
    def n_states(self) -> int:
        """Number of states S."""
        return int(self.features.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions A."""
        return int(self.features.shape[1])

    @property
    def dim(self) -> int:
        """Feature dimension d."""
        return int(self.features.shape[2])

    def to_tabular(self) -> TabularMDP:
        """The induced :class:`TabularMDP` (dense ``(S, A, S)``; built and validated once)."""
        return self._tabular

    def __repr__(self) -> str:
        return f"LinearMDP(S={self.n_states}, A={self.n_actions}, d={self.dim}, gamma={self.gamma})"


def random_linear_mdp(
    n_states: int,
    n_actions: int,
    dim: int,
    *,
    gamma: float = 0.9,
    seed: Seed = None,
) -> LinearMDP:
    r"""A random linear MDP with an exact, non-negative factorisation.

    Draw order: ``phi[s, a] ~ Dirichlet(1_d)`` for every pair (shape ``(S, A, d)``), then every
    row ``mu[i] ~ Dirichlet(1_S)`` (shape ``(d, S)``), then ``theta ~ Uniform[0, 1]^d``.  Hence
    ``P(. | s, a) = sum_i phi[s, a, i] mu[i]`` is a convex combination of ``d``
    distributions (rows sum to 1 up to rounding) and ``r(s, a) = phi[s, a] @ theta`` lies in
    ``[0, 1]``.  Initial distribution uniform.

    Example:
        >>> m = random_linear_mdp(4, 2, 3, seed=0)
        >>> m.to_tabular().transitions.shape, m.dim
        ((4, 2, 4), 3)
    """
    S = as_int("n_states", n_states)
    A = as_int("n_actions", n_actions)
    d = as_int("dim", dim)
    gamma = _check_gamma(gamma)
    rng = as_generator(seed)
    phi = rng.dirichlet(np.ones(d), size=(S, A))
    mu = rng.dirichlet(np.ones(S), size=d)
    theta = rng.random(d)
    return LinearMDP(phi, mu, theta, gamma)

r"""Variance-reduced stochastic policy gradient: N-PG-IGT, (N)-HARPG and two baselines.

Maximise :math:`J(\theta) = \mathbb E\sum_{t\ge0}\gamma^t r(s_t, a_t)` over a parameterised
policy :math:`\pi_\theta` from one (or two) sampled trajectories per iteration (Fatkhullin,
Barakat, Kireeva & He, ICML 2023, arXiv:2302.01734).  Tags as in the project's theory notes:
[T] from a transcription of the theorem statements, [V] from the abstract or the authors' code,
[R] derived here (the derivation is given).

**Problems and policies** (``theta`` ``(d,)``, or ``(B, d)`` for ``B`` runs).

* :class:`~theory_rl.mdps.tabular.TabularMDP` -- tabular softmax, :math:`\pi(a|s)\propto
  \exp\theta_{sA+a}` (``d = S*A``): score :math:`e_{(s,a)} - \pi_s` on state ``s``'s block,
  :math:`\nabla^2\log\pi(a|s) = -(\mathrm{diag}\,\pi_s - \pi_s\pi_s^\top)` for every ``a``.
* :class:`~theory_rl.mdps.linear.LinearMDP` -- log-linear over its features,
  :math:`\pi(a|s)\propto\exp\theta^\top\phi(s,a)`: score :math:`\phi(s,a) - \bar\phi(s)`,
  :math:`\bar\phi(s) = \sum_b\pi(b|s)\phi(s,b)`, and :math:`\nabla^2\log\pi(a|s) =
  -\mathrm{Cov}_{b\sim\pi_s}\phi(s,b)` (softmax is the case :math:`\phi(s,a) = e_{(s,a)}`; one
  code path, :class:`LogLinearPolicy`).  Bounds (A1, [R]): :math:`M_g = \max_{s,a,b}
  \|\phi(s,a)-\phi(s,b)\|` (the score is a convex combination of such differences) and
  :math:`M_h = M_g^2/4` (the variance of a scalar with range ``w`` is at most :math:`w^2/4`).
* :class:`GaussianBandit` -- the Fisher-non-degenerate test problem: contexts
  :math:`\phi_k` ``(K, d)``, :math:`a\sim N(\theta^\top\phi_k, \sigma^2)`,
  :math:`r = \exp(-(a - \theta_*^\top\phi_k)^2/2)`, one step (``H = 1``).  In closed form
  :math:`J(\theta) = \kappa\sum_k p_k e^{-\delta_k^2/(2(1+\sigma^2))}`,
  :math:`\delta_k = (\theta-\theta_*)^\top\phi_k`, :math:`\kappa = (1+\sigma^2)^{-1/2} = J^*`;
  :math:`F = \sum_k p_k\phi_k\phi_k^\top/\sigma^2` (A3 holds when the contexts span
  :math:`\mathbb R^d`).  The Gaussian score is unbounded, so A1 holds only in expectation
  (as for every Gaussian policy).
* :class:`QuadraticObjective` -- :math:`J = \tfrac12\theta^\top A\theta + b^\top\theta` with
  exact oracles only: the deterministic transport identities below.

**Estimators** (truncation ``H``, trajectory :math:`\tau = (s_0, a_0, \dots, a_{H-1})`) [T]:

.. math::
    g(\tau,\theta) = \sum_{t<H}\Big(\sum_{h=t}^{H-1}\gamma^h r_h\Big)\nabla\log\pi_\theta(a_t|s_t),
    \qquad \mathbb E\,g = \nabla J_H(\theta),

.. math::
    B(\tau,\theta)v = \nabla\Phi\,\langle\nabla\log p(\tau), v\rangle + \nabla^2\Phi\,v,
    \qquad \mathbb E\,B = \nabla^2 J_H(\theta),

with :math:`\Phi = \sum_t(\sum_{h\ge t}\gamma^h r_h)\log\pi_\theta(a_t|s_t)` (so
:math:`\nabla\Phi = g`) and :math:`\nabla\log p(\tau) = \sum_t\nabla\log\pi_\theta(a_t|s_t)`;
computed matrix-free in one forward pass per trajectory (numba,
:mod:`theory_rl.kernels.policy_gradient`).

**Algorithms** (state ``k`` holds :math:`\theta_k` and a direction :math:`d_k \approx \nabla
J_H(\theta_k)`; :math:`d_0 = g(\tau_0, \theta_0)`; schedules :func:`step_schedule`).

* N-PG-IGT (Algorithm 1 [T+V]): :math:`\theta_{k+1} = \theta_k + \gamma_k d_k/\|d_k\|`,
  :math:`\tilde\theta = \theta_{k+1} + \frac{1-\eta_{k+1}}{\eta_{k+1}}(\theta_{k+1}-\theta_k)`,
  :math:`d_{k+1} = (1-\eta_{k+1})d_k + \eta_{k+1}g(\tilde\tau, \tilde\theta)`; one trajectory
  per iteration.  Theorem [T] (A1-A4): with :math:`\gamma_k = 6M_g/(\mu_F(k+2))`,
  :math:`\eta_k = (2/(k+2))^{4/5}` and :math:`H = \log(T+1)/(1-\gamma)`,
  :math:`J^* - \mathbb E J(\theta_T) \le O((\sigma_g + L_h)/(T+1)^{2/5}) +
  \sqrt{\varepsilon_{bias}}/(1-\gamma)`: :math:`\tilde O(\varepsilon^{-2.5})` samples.
* HARPG / N-HARPG (Algorithm 2 [T/V]): :math:`\theta_{k+1} = \theta_k + \gamma_k d_k` (HARPG) or
  :math:`+\gamma_k d_k/\|d_k\|` (N-HARPG); :math:`q\sim U[0,1]`, :math:`\hat\theta =
  q\theta_{k+1} + (1-q)\theta_k`, :math:`v = B(\hat\tau, \hat\theta)(\theta_{k+1}-\theta_k)`,
  :math:`d_{k+1} = (1-\eta_{k+1})(d_k + v) + \eta_{k+1}g(\tau_{k+1}, \theta_{k+1})`; two
  trajectories per iteration.  Since :math:`\mathbb E_q\nabla^2J_H(\hat\theta)(\theta_{k+1} -
  \theta_k) = \nabla J_H(\theta_{k+1}) - \nabla J_H(\theta_k)`, ``v`` is unbiased for the
  gradient difference [R].  Theorems [T]: HARPG (A1, A3, A4) with :math:`\eta_k = 2/(k+2)`,
  :math:`\gamma_k = \gamma_0\eta_k^{1/2}`; N-HARPG with :math:`\gamma_k = 6M_g/(\mu_F(k+2))`,
  :math:`\eta_k = 2/(k+2)`: :math:`J^* - \mathbb E J(\theta_T) \le O((\sigma_g + L_g +
  \sigma_h)/\sqrt{T+1})` + bias floor, i.e. :math:`\tilde O(\varepsilon^{-2})`.
* Baselines [V: authors' code]: vanilla PG :math:`\theta_{k+1} = \theta_k + \gamma_k
  g(\tau_k, \theta_k)`, :math:`\gamma_k = \gamma_0(2/(k+2))^{2/3}`; normalised PG with momentum
  :math:`d_{k+1} = (1-\eta_{k+1})d_k + \eta_{k+1}g(\tau_{k+1},\theta_{k+1})`,
  :math:`\gamma_k = \gamma_0\cdot 2/(k+2)`, :math:`\eta_k = (2/(k+2))^{2/3}`.

**Transport identities** [R] (exact gradients, :math:`J` quadratic): IGT gives
:math:`d_k = \nabla J(\theta_k)` at every ``k`` because :math:`(1-\eta)\theta_k +
\eta\tilde\theta = \theta_{k+1}` and :math:`\nabla J` is affine; HARPG with the exact Hessian
too, because :math:`\nabla J(\theta_{k+1}) = \nabla J(\theta_k) + A(\theta_{k+1}-\theta_k)`.
``oracle="exact"`` replaces ``g`` by :math:`\nabla J_H` and ``B v`` by :math:`\nabla^2J_H v`.

**Constants** (Proposition 1 [T]): :math:`L_g = r_{max}(M_g^2+M_h)/(1-\gamma)^2`,
:math:`\sigma_g^2 = r_{max}^2M_g^2/(1-\gamma)^3`, :math:`\sigma_h^2 = r_{max}^2(H^2M_g^4 +
M_h^2)/(1-\gamma)^4`; truncation bias :math:`\|\nabla J_H - \nabla J\| \le D_g\gamma^H` and
:math:`\|\nabla^2J_H - \nabla^2J\| \le D_h\gamma^H` (derived in
:mod:`theory_rl.bounds.fatkhullin2023`).

**Deviations and reconstructions.**  The paper body was not read: the boxes above are
reconstructed from the transcription and the authors' code, so the implementation is a
reconstruction and reproduces none of the paper's figures.  The theorem's step size
:math:`6M_g/(\mu_F(k+2))` is written :math:`\gamma_0\cdot 2/(k+2)` with a free
``step_size`` :math:`\gamma_0` (the theorem's value :math:`3M_g/\mu_F` is not finite for the
Gaussian policy); the first direction is always the plain estimate (:math:`\eta = 1` at
``k = 0``), and ``momentum`` scales :math:`\eta_k` for ``k >= 1`` (authors' code, default 1).
One trajectory per gradient and per HVP estimate (the authors' experiments use batches).

References:
    I. Fatkhullin, A. Barakat, A. Kireeva, N. He. Stochastic policy gradient methods: improved
    sample complexity for Fisher-non-degenerate policies. ICML 2023, PMLR 202:9827-9869,
    arXiv:2302.01734.  Code: github.com/aabkn/Stochastic-Policy-Gradient-Methods.
    J. Baxter, P. Bartlett. Infinite-horizon policy-gradient estimation. JAIR 15, 2001 (GPOMDP).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive, as_real
from theory_rl.algorithms import sampling as _sampling
from theory_rl.algorithms._loop import Method, check_record, iterate
from theory_rl.algorithms.exact import ExactEvaluator, Reference
from theory_rl.algorithms.mirror import log_normalize
from theory_rl.backend import as_generator, resolve_device
from theory_rl.kernels import policy_gradient as _kpg
from theory_rl.mdps.linear import LinearMDP
from theory_rl.mdps.tabular import TabularMDP, _validated_rho
from theory_rl.result import SolveResult

__all__ = [
    "SPG_METHODS",
    "SPG_METRICS",
    "GaussianBandit",
    "LogLinearPolicy",
    "QuadraticObjective",
    "ascent_step",
    "default_horizon",
    "extrapolation_point",
    "gpomdp_gradient",
    "harpg",
    "hessian_vector_product",
    "momentum_direction",
    "n_harpg",
    "n_pg_igt",
    "normalized_momentum_pg",
    "sample_returns",
    "step_schedule",
    "truncated_gradient",
    "truncated_hessian",
    "truncated_objective",
    "vanilla_policy_gradient",
]

Callback = Callable[[SolveResult], None]
#: History keys: ``gap`` :math:`J^*-J(\theta_k)`, ``objective`` :math:`J(\theta_k)`, ``samples``
#: (trajectories drawn so far, including the one behind :math:`d_k`), ``grad_norm``
#: :math:`\|\nabla J(\theta_k)\|` and ``direction_error`` :math:`\|d_k - \nabla J_H(\theta_k)\|`
#: (exact oracles; :math:`J` untruncated).
SPG_METRICS = ("gap", "objective", "samples", "grad_norm", "direction_error")
#: The algorithms of :func:`step_schedule`.
SPG_METHODS = ("n_pg_igt", "harpg", "n_harpg", "vanilla_policy_gradient", "normalized_momentum_pg")

# (step exponent, momentum exponent) of gamma_k = gamma_0 (2/(k+2))^p, eta_k = eta_0 (2/(k+2))^q
_SCHEDULES = {
    "n_pg_igt": (1.0, 0.8),
    "harpg": (0.5, 1.0),
    "n_harpg": (1.0, 1.0),
    "vanilla_policy_gradient": (2.0 / 3.0, None),
    "normalized_momentum_pg": (1.0, 2.0 / 3.0),
}


# --------------------------------------------------------------------------------------------
# problems and policies
# --------------------------------------------------------------------------------------------
def _array(name: str, x: Any, ndim: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf" or arr.ndim != ndim or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty real array with {ndim} axes, got {x!r}")
    arr = np.array(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianBandit:
    r"""Continuous-action contextual bandit with a Gaussian policy (module docstring).

    Args:
        contexts: ``(K, d)`` features :math:`\phi_k`.
        theta_star: ``(d,)``; the optimal mean action in context ``k`` is
            :math:`\theta_*^\top\phi_k` and :math:`J^* = (1+\sigma^2)^{-1/2}`.
        sigma: policy standard deviation ``> 0``.
        context_probs: ``(K,)`` law of the context (uniform if omitted).

    Example:
        >>> import numpy as np
        >>> bandit = GaussianBandit(np.eye(2), np.array([1.0, -1.0]), sigma=1.0)
        >>> round(bandit.optimum, 6), bandit.dim
        (0.707107, 2)
    """

    contexts: np.ndarray
    theta_star: np.ndarray
    sigma: float = 1.0
    context_probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        phi = _array("contexts", self.contexts, 2)
        th = _array("theta_star", self.theta_star, 1)
        if th.shape != (phi.shape[1],):
            raise ValueError(f"theta_star must have shape ({phi.shape[1]},), got {th.shape}")
        sigma = as_positive("sigma", self.sigma)
        if self.context_probs is None:
            p = np.full(phi.shape[0], 1.0 / phi.shape[0])
        else:
            p = _array("context_probs", self.context_probs, 1)
            if p.shape != (phi.shape[0],) or (p < 0).any() or abs(p.sum() - 1.0) > 1e-10:
                raise ValueError(
                    f"context_probs must be a distribution of shape ({phi.shape[0]},), got {p}"
                )
        p = np.array(p)
        p.flags.writeable = False
        object.__setattr__(self, "contexts", phi)
        object.__setattr__(self, "theta_star", th)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "context_probs", p)

    @property
    def dim(self) -> int:
        """Parameter dimension ``d``."""
        return int(self.contexts.shape[1])

    @property
    def optimum(self) -> float:
        r""":math:`J^* = (1+\sigma^2)^{-1/2}`, attained at :math:`\theta_*`."""
        return 1.0 / math.sqrt(1.0 + self.sigma**2)

    @property
    def fisher_min_eigenvalue(self) -> float:
        r""":math:`\mu_F = \lambda_{min}(\sum_k p_k\phi_k\phi_k^\top)/\sigma^2` (A3)."""
        F = (self.contexts.T * self.context_probs) @ self.contexts / self.sigma**2
        return float(np.linalg.eigvalsh(F)[0])


@dataclasses.dataclass(frozen=True, eq=False)
class QuadraticObjective:
    r""":math:`J(\theta) = \frac12\theta^\top A\theta + b^\top\theta` with exact oracles only.

    Args:
        hessian: ``(d, d)`` symmetric negative definite ``A`` (so :math:`J^*` is finite).
        linear: ``(d,)`` vector ``b``.

    Only ``oracle="exact"`` runs on it: the deterministic transport identities (module
    docstring).
    """

    hessian: np.ndarray
    linear: np.ndarray

    def __post_init__(self) -> None:
        A = _array("hessian", self.hessian, 2)
        b = _array("linear", self.linear, 1)
        if A.shape != (b.size, b.size):
            raise ValueError(f"hessian must have shape ({b.size}, {b.size}), got {A.shape}")
        if not np.allclose(A, A.T, rtol=0, atol=1e-12 * max(1.0, np.abs(A).max())):
            raise ValueError("hessian must be symmetric")
        if np.linalg.eigvalsh(A)[-1] >= 0:
            raise ValueError("hessian must be negative definite (J is maximised)")
        object.__setattr__(self, "hessian", A)
        object.__setattr__(self, "linear", b)

    @property
    def dim(self) -> int:
        """Parameter dimension ``d``."""
        return int(self.linear.size)

    @property
    def optimum(self) -> float:
        r""":math:`J^* = -\frac12 b^\top A^{-1}b`."""
        return float(-0.5 * self.linear @ np.linalg.solve(self.hessian, self.linear))


@dataclasses.dataclass(frozen=True, eq=False)
class LogLinearPolicy:
    r""":math:`\pi_\theta(a|s)\propto\exp\theta^\top\phi(s,a)` with closed-form derivatives.

    Args:
        features: ``(S, A, d)``; tabular softmax is :meth:`softmax` (one-hot features).

    Example:
        >>> import numpy as np
        >>> pol = LogLinearPolicy.softmax(1, 2)
        >>> pol.score(np.zeros(2))[0, 0]
        array([ 0.5, -0.5])
    """

    features: np.ndarray
    _one_hot: bool = dataclasses.field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        phi = _array("features", self.features, 3)
        S, A, d = phi.shape
        one_hot = d == S * A and np.array_equal(phi.reshape(S * A, d), np.eye(d))
        object.__setattr__(self, "features", phi)
        object.__setattr__(self, "_one_hot", bool(one_hot))

    @classmethod
    def softmax(cls, n_states: int, n_actions: int) -> LogLinearPolicy:
        """Tabular softmax: ``phi[s, a] = e_{s*A + a}`` (``d = S*A``)."""
        S, A = as_int("n_states", n_states), as_int("n_actions", n_actions)
        return cls(np.eye(S * A).reshape(S, A, S * A))

    @property
    def dim(self) -> int:
        """Parameter dimension ``d``."""
        return int(self.features.shape[2])

    def _theta(self, theta: Any) -> np.ndarray:
        return _theta(theta, self.dim)

    def probabilities(self, theta: Any) -> np.ndarray:
        """``(..., S, A)`` policy of ``theta`` ``(..., d)``."""
        th = self._theta(theta)
        S, A, _ = self.features.shape
        if self._one_hot:  # tabular softmax: the logits are theta itself
            logits = th.reshape(th.shape[:-1] + (S, A))
        else:
            logits = np.einsum("sad,...d->...sa", self.features, th)
        return np.exp(log_normalize(logits))

    def score(self, theta: Any) -> np.ndarray:
        r""":math:`\nabla_\theta\log\pi(a|s) = \phi(s,a) - \bar\phi(s)` ``(..., S, A, d)``;
        ``ValueError`` where a probability is zero (the score of a log-probability of
        ``-inf``)."""
        pi = _positive(self.probabilities(theta))
        mean = np.einsum("...sa,sad->...sd", pi, self.features)
        return self.features - mean[..., None, :]

    def log_hessian(self, theta: Any) -> np.ndarray:
        r""":math:`\nabla^2_\theta\log\pi(a|s) = -\mathrm{Cov}_{b\sim\pi_s}\phi(s,b)`
        ``(..., S, d, d)`` (the same for every action ``a``)."""
        pi = _positive(self.probabilities(theta))
        x = self.features - np.einsum("...sa,sad->...sd", pi, self.features)[..., None, :]
        return -np.einsum("...sa,...sad,...sae->...sde", pi, x, x)

    @property
    def score_bound(self) -> float:
        r""":math:`M_g = \max_{s,a,b}\|\phi(s,a)-\phi(s,b)\| \ge \|\nabla\log\pi\|` [R]."""
        diff = self.features[:, :, None, :] - self.features[:, None, :, :]
        return float(np.sqrt((diff**2).sum(-1)).max())

    @property
    def hessian_bound(self) -> float:
        r""":math:`M_h = M_g^2/4 \ge \|\nabla^2\log\pi\|_2` [R]."""
        return self.score_bound**2 / 4.0


def _theta(theta: Any, d: int, name: str = "theta") -> np.ndarray:
    arr = np.asarray(theta)
    if arr.dtype.kind not in "iuf" or arr.ndim < 1 or arr.shape[-1] != d:
        raise ValueError(
            f"{name} must be a real array of shape (..., {d}), got shape "
            f"{getattr(arr, 'shape', None)}"
        )
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return arr


def _positive(pi: np.ndarray) -> np.ndarray:
    if (pi <= 0).any():
        raise ValueError(
            "theta: the policy has zero probabilities (logits differ by more than ~745), where "
            "the score log pi is -inf; its gradient and Hessian are undefined"
        )
    return pi


# --------------------------------------------------------------------------------------------
# models: exact oracles and samplers, one per problem type (private)
# --------------------------------------------------------------------------------------------
class _MDPModel:
    """A tabular or linear MDP with a log-linear policy: exact oracles and the numba sampler."""

    def __init__(self, mdp: TabularMDP | LinearMDP, rho: Any = None):
        if isinstance(mdp, LinearMDP):
            tab, policy = mdp.to_tabular(), LogLinearPolicy(mdp.features)
        else:
            tab, policy = mdp, LogLinearPolicy.softmax(mdp.n_states, mdp.n_actions)
        self.tab, self.policy = tab, policy
        self.S, self.A, self.d = tab.n_states, tab.n_actions, policy.dim
        self.gamma = float(tab.gamma)
        self.rho = (
            tab.initial_distribution
            if rho is None
            else _validated_rho(np.asarray(rho), self.S, "rho")
        )
        self.P = tab.to_dense().transitions
        self.r = np.asarray(tab.rewards, dtype=np.float64)
        self.r_max = float(np.abs(self.r).max())
        self.phi = policy.features
        self._kernel_args = None
        self.evaluator = ExactEvaluator(self.tab, "cpu", self.rho)

    # -- exact -----------------------------------------------------------------------------
    def probs(self, theta: np.ndarray) -> np.ndarray:
        return self.policy.probabilities(theta)

    def objective(self, theta: np.ndarray) -> np.ndarray:
        """Untruncated :math:`J(\\theta) = \\rho^\\top V^{\\pi_\\theta}` ``(n,)``."""
        pi = self.probs(theta)
        v, _ = self.evaluator.evaluate(pi.reshape(-1, self.S, self.A))
        return (v @ self.rho).reshape(pi.shape[:-2])

    def values(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pi = self.probs(theta)
        v, q = self.evaluator.evaluate(pi.reshape(-1, self.S, self.A))
        return pi, v.reshape(pi.shape[:-1]), q.reshape(pi.shape)

    def gradient(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        r"""Exact :math:`\nabla J_H` (or :math:`\nabla J` for ``horizon=None``) ``(..., d)`` by the
        policy gradient theorem: :math:`\sum_t\gamma^t\sum_{s,a}d_t(s)\pi(a|s)Q_{H-t}(s,a)
        \nabla\log\pi(a|s)` (backward recursion for the truncated :math:`Q_{H-t}`)."""
        th = _theta(theta, self.d)
        pi = _positive(self.probs(th))
        x = self.policy.score(th)
        if horizon is None:
            ev = self.evaluator
            flat = pi.reshape(-1, self.S, self.A)
            _, q = ev.evaluate(flat)
            occ = ev.occupancy(flat) / (1.0 - self.gamma)
            w = (occ[..., None] * flat * q).reshape(pi.shape)
        else:
            H, g = int(horizon), self.gamma
            qs = [self.r * np.ones_like(pi)]  # Q_1 = r
            for _ in range(H - 1):  # Q_{k+1} = r + gamma P V_k
                v = (pi * qs[-1]).sum(-1)
                qs.append(self.r + g * np.einsum("sat,...t->...sa", self.P, v))
            dist = np.broadcast_to(self.rho, pi.shape[:-1]).copy()
            w = np.zeros_like(pi)
            for t in range(H):
                w += g**t * dist[..., None] * pi * qs[H - 1 - t]
                dist = np.einsum("...s,...sa,sat->...t", dist, pi, self.P)
        return np.einsum("...sa,...sad->...d", w, x)

    def truncated(
        self, theta: np.ndarray, horizon: int, order: int, partial: bool = False
    ) -> tuple:
        r"""``(J_H, grad J_H, Hess J_H)`` by a forward recursion over moments (a second,
        independent route): with :math:`c_t = \sum_{k\le t}\nabla\log\pi(a_k|s_k)` and
        :math:`h_t = \sum_{k\le t}\nabla^2\log\pi(a_k|s_k)`,
        :math:`\nabla J_H = \sum_t\gamma^t\mathbb E[r_t c_t]` and
        :math:`\nabla^2J_H = \sum_t\gamma^t\mathbb E[r_t(c_tc_t^\top + h_t)]`; the state-wise
        moments :math:`\mathbb E[1\{s_t=s\}c_{t-1}]` and :math:`\mathbb E[1\{s_t=s\}
        (c_{t-1}c_{t-1}^\top + h_{t-1})]` propagate linearly through :math:`\pi P`.
        ``partial``: arrays with a leading ``(horizon,)`` axis, entry ``h`` for ``H = h + 1``
        (every truncation in one pass)."""
        th = _theta(theta, self.d)
        pi = _positive(self.probs(th))
        x = self.policy.score(th)  # (..., S, A, d)
        lead = pi.shape[:-2]
        T = np.einsum("...sa,sat->...sat", pi, self.P)
        dist = np.broadcast_to(self.rho, lead + (self.S,)).copy()
        m = np.zeros(lead + (self.S, self.d))
        J = np.zeros(lead)
        grad = np.zeros(lead + (self.d,))
        hess = np.zeros(lead + (self.d, self.d)) if order >= 2 else None
        if order >= 2:
            hl = self.policy.log_hessian(th)  # (..., S, d, d)
            N = np.zeros(lead + (self.S, self.d, self.d))
            xx = np.einsum("...sad,...sae->...sade", x, x) + hl[..., None, :, :]
        pr = pi * self.r
        seen: list[tuple] = []
        for t in range(int(horizon)):
            gt = self.gamma**t
            J += gt * np.einsum("...s,...sa->...", dist, pr)
            y = m[..., None, :] + dist[..., None, None] * x  # (..., S, A, d)
            grad += gt * np.einsum("...sa,...sad->...d", pr, y)
            if order >= 2:
                Y = (
                    N[..., None, :, :]
                    + np.einsum("...sd,...sae->...sade", m, x)
                    + np.einsum("...sad,...se->...sade", x, m)
                    + dist[..., None, None, None] * xx
                )
                hess += gt * np.einsum("...sa,...sade->...de", pr, Y)
                N = np.einsum("...sat,...sade->...tde", T, Y)
            m = np.einsum("...sat,...sad->...td", T, y)
            dist = np.einsum("...sat,...s->...t", T, dist)
            if partial:
                seen.append((J.copy(), grad.copy(), None if hess is None else hess.copy()))
        if partial:
            return tuple(None if x[0] is None else np.stack(x) for x in zip(*seen, strict=True))
        return J, grad, hess

    def hessian(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        return self.truncated(theta, self._horizon(horizon), 2)[2]

    def truncated_objective(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        if horizon is None:
            return self.objective(_theta(theta, self.d))
        return self.truncated(theta, horizon, 0)[0]

    def _horizon(self, horizon: int | None) -> int:
        """``horizon``, or for ``None`` one with :math:`D_h\\gamma^H` below 1e-15 relative
        (the untruncated Hessian as a truncated one whose bias is below round-off)."""
        if horizon is not None:
            return int(horizon)
        g, H = self.gamma, 1
        while g**H * (H + 1.0 / (1.0 - g)) / (1.0 - g) > 1e-15:
            H += 1
        return H

    # -- sampled ---------------------------------------------------------------------------
    def _arrays(self) -> tuple:
        if self._kernel_args is None:
            indptr, indices, cum, rewards = _sampling._model(self.tab)
            rho_cum = _sampling._c(np.cumsum(self.rho), np.float64)
            feats = _sampling._c(self.phi.reshape(self.S * self.A, self.d), np.float64)
            self._kernel_args = (indptr, indices, cum, rewards, rho_cum, feats)
        return self._kernel_args

    def sample(
        self,
        theta: np.ndarray,
        horizon: int,
        rng: np.random.Generator,
        per: int = 1,
        v: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``per`` trajectories at each row of ``theta`` ``(m, d)``: GPOMDP ``(m*per, d)``, the
        HVP ``(m*per, d)`` (when ``v`` ``(m, d)`` is given) and the returns ``(m*per,)``."""
        indptr, indices, cum, rewards, rho_cum, feats = self._arrays()
        pi = _positive(self.probs(theta))  # (m, S, A)
        m = pi.shape[0]
        one_hot = self.policy._one_hot
        if one_hot:  # softmax: phi_bar(s) and Hess log pi(s) v live on state s's block
            S, A = self.S, self.A
            diag = (slice(None), np.arange(S), np.arange(S))
            mean = np.zeros((m, S, S, A))
            mean[diag] = pi
            mean = mean.reshape(m, S, self.d)
        else:
            mean = np.ascontiguousarray(np.einsum("nsa,sad->nsd", pi, self.phi))
        if v is not None and one_hot:
            pv = v.reshape(m, self.S, self.A)
            hv = np.zeros((m, self.S, self.S, self.A))
            hv[diag] = -(pi * pv - pi * (pi * pv).sum(-1, keepdims=True))
            hv = hv.reshape(m, self.S, self.d)
        elif v is not None:
            pv = np.einsum("sad,nd->nsa", self.phi, v)
            hv = -(
                np.einsum("nsa,nsa,sad->nsd", pi, pv, self.phi)
                - mean * (pi * pv).sum(-1)[..., None]
            )
            hv = np.ascontiguousarray(hv)
        else:
            hv = np.zeros((1, 1, self.d))
        pi_cum = np.ascontiguousarray(np.cumsum(pi, axis=-1).reshape(-1))
        n = m * per
        grad = np.empty((n, self.d))
        score = np.empty((n, self.d))
        hterm = np.empty((n, self.d))
        ret = np.empty(n)
        _kpg._score_trajectories(
            rng, indptr, indices, cum, rewards, rho_cum, feats, pi_cum, mean, hv,
            float(self.gamma), np.int64(horizon), np.int64(per), np.int64(v is not None),
            np.int64(self.A if self.policy._one_hot else 0), grad, score, hterm, ret,
        )  # fmt: skip
        if v is None:
            return grad, None, ret
        vv = np.repeat(v, per, axis=0)
        return grad, grad * (score * vv).sum(-1, keepdims=True) + hterm, ret


class _BanditModel:
    """:class:`GaussianBandit`: closed forms, vectorised NumPy sampler (``H = 1``)."""

    gamma = 0.0

    def __init__(self, bandit: GaussianBandit):
        self.b = bandit
        self.d = bandit.dim
        self.s2 = bandit.sigma**2
        self.kappa = 1.0 / math.sqrt(1.0 + self.s2)
        self.cum = np.cumsum(bandit.context_probs)
        self.r_max = 1.0

    def _parts(self, theta: np.ndarray) -> tuple:
        th = _theta(theta, self.d)
        delta = (th - self.b.theta_star) @ self.b.contexts.T  # (..., K)
        e = self.b.context_probs * self.kappa * np.exp(-(delta**2) / (2.0 * (1.0 + self.s2)))
        return th, delta, e

    def objective(self, theta: np.ndarray) -> np.ndarray:
        return self._parts(theta)[2].sum(-1)

    def truncated_objective(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        return self.objective(theta)  # one step: J_H = J for every H >= 1

    def gradient(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        _, delta, e = self._parts(theta)
        return (e * (-delta / (1.0 + self.s2))) @ self.b.contexts

    def hessian(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        _, delta, e = self._parts(theta)
        c = 1.0 + self.s2
        w = e * (delta**2 / c**2 - 1.0 / c)
        return np.einsum("...k,kd,ke->...de", w, self.b.contexts, self.b.contexts)

    def sample(
        self,
        theta: np.ndarray,
        horizon: int,
        rng: np.random.Generator,
        per: int = 1,
        v: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        th = np.repeat(_theta(theta, self.d), per, axis=0)
        n = th.shape[0]
        k = np.searchsorted(self.cum, rng.random(n) * self.cum[-1], side="right")
        phi = self.b.contexts[np.minimum(k, self.cum.size - 1)]
        xi = rng.standard_normal(n)
        sigma = self.b.sigma
        a = (phi * th).sum(-1) + sigma * xi
        r = np.exp(-0.5 * (a - phi @ self.b.theta_star) ** 2)
        score = (xi / sigma)[:, None] * phi
        grad = r[:, None] * score
        if v is None:
            return grad, None, r
        vv = np.repeat(v, per, axis=0)
        pv = (phi * vv).sum(-1)
        hvp = grad * (score * vv).sum(-1, keepdims=True) - (r * pv / self.s2)[:, None] * phi
        return grad, hvp, r


class _QuadraticModel:
    """:class:`QuadraticObjective`: exact oracles only."""

    gamma = 0.0
    r_max = float("nan")

    def __init__(self, quad: QuadraticObjective):
        self.q, self.d = quad, quad.dim

    def objective(self, theta: np.ndarray) -> np.ndarray:
        th = _theta(theta, self.d)
        return 0.5 * np.einsum("...d,de,...e->...", th, self.q.hessian, th) + th @ self.q.linear

    def truncated_objective(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        return self.objective(theta)

    def gradient(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        return _theta(theta, self.d) @ self.q.hessian + self.q.linear

    def hessian(self, theta: np.ndarray, horizon: int | None) -> np.ndarray:
        th = _theta(theta, self.d)
        return np.broadcast_to(self.q.hessian, th.shape[:-1] + (self.d, self.d)).copy()

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError('oracle: a QuadraticObjective has exact oracles only; use oracle="exact"')


def _model(problem: Any, rho: Any = None) -> Any:
    if isinstance(problem, (TabularMDP, LinearMDP)):
        return _MDPModel(problem, rho)
    if rho is not None:
        raise ValueError("rho applies to MDP problems only")
    if isinstance(problem, GaussianBandit):
        return _BanditModel(problem)
    if isinstance(problem, QuadraticObjective):
        return _QuadraticModel(problem)
    raise ValueError(
        "problem must be a TabularMDP (softmax policy), a LinearMDP (log-linear policy), a "
        f"GaussianBandit or a QuadraticObjective, got {type(problem).__name__}"
    )


def _check_horizon(model: Any, horizon: Any, *, allow_none: bool = False) -> int | None:
    if horizon is None and allow_none:
        return None
    H = as_int("horizon", horizon, minimum=1)
    return 1 if not isinstance(model, _MDPModel) else H


# --------------------------------------------------------------------------------------------
# public exact oracles and estimators
# --------------------------------------------------------------------------------------------
def truncated_objective(
    problem: Any, theta: Any, *, horizon: int | None, rho: Any = None
) -> np.ndarray:
    r""":math:`J_H(\theta) = \mathbb E\sum_{t<H}\gamma^tr_t` exactly (forward recursion);
    ``horizon=None`` gives the untruncated :math:`J` (one linear solve).

    Args:
        problem: :class:`~theory_rl.mdps.tabular.TabularMDP`, :class:`~theory_rl.mdps.linear.
            LinearMDP`, :class:`GaussianBandit` (``H`` is ignored: one step) or
            :class:`QuadraticObjective`.
        theta: ``(..., d)`` parameters.
        horizon: ``H >= 1`` or None.
        rho: ``(S,)`` start distribution (MDPs; default the MDP's).

    Returns:
        ``(...)`` values.

    Example:
        >>> from theory_rl.mdps import bandit
        >>> float(truncated_objective(bandit([1.0, 0.0]), [0.0, 0.0], horizon=1))
        0.5
    """
    model = _model(problem, rho)
    H = _check_horizon(model, horizon, allow_none=True)
    return np.asarray(model.truncated_objective(_theta(theta, model.d), H))


def truncated_gradient(
    problem: Any, theta: Any, *, horizon: int | None, rho: Any = None, method: str = "q"
) -> np.ndarray:
    r"""Exact :math:`\nabla J_H(\theta)` ``(..., d)`` (``horizon=None``: :math:`\nabla J`).

    ``method="q"``: the policy gradient theorem with truncated action values (MDPs); ``"moments"``:
    the forward moment recursion of :func:`truncated_hessian` (an independent route; MDPs with a
    finite horizon).  Closed forms for the bandit and the quadratic.  Arguments as in
    :func:`truncated_objective`.
    """
    model = _model(problem, rho)
    H = _check_horizon(model, horizon, allow_none=True)
    th = _theta(theta, model.d)
    if method == "moments" and isinstance(model, _MDPModel):
        return model.truncated(th, model._horizon(H), 1)[1]
    if method not in ("q", "moments"):
        raise ValueError(f'method must be "q" or "moments", got {method!r}')
    return model.gradient(th, H)


def truncated_hessian(
    problem: Any, theta: Any, *, horizon: int | None, rho: Any = None
) -> np.ndarray:
    r"""Exact :math:`\nabla^2 J_H(\theta)` ``(..., d, d)`` (MDPs: forward moment recursion of
    :math:`\mathbb E[\sum_t\gamma^tr_t(c_tc_t^\top + h_t)]`; ``horizon=None``: a horizon whose
    truncation bias :math:`D_h\gamma^H` is below 1e-15).  Arguments as in
    :func:`truncated_objective`."""
    model = _model(problem, rho)
    H = _check_horizon(model, horizon, allow_none=True)
    return model.hessian(_theta(theta, model.d), H)


def _estimate(
    problem: Any, theta: Any, v: Any, horizon: int, n_trajectories: int, seed: Any, rho: Any
) -> tuple:
    model = _model(problem, rho)
    H = _check_horizon(model, horizon)
    n = as_int("n_trajectories", n_trajectories)
    th = _theta(theta, model.d)
    if th.ndim != 1:
        raise ValueError(f"theta must have shape ({model.d},), got {th.shape}")
    vv = None if v is None else _theta(v, model.d, "v").reshape(1, model.d)
    return model.sample(th[None, :], H, as_generator(seed), n, vv)


def gpomdp_gradient(
    problem: Any,
    theta: Any,
    *,
    horizon: int,
    n_trajectories: int = 1,
    seed: Any = None,
    rho: Any = None,
) -> np.ndarray:
    r"""GPOMDP (REINFORCE with reward-to-go) estimates of :math:`\nabla J_H(\theta)`, one per
    trajectory (module docstring); their mean is unbiased.

    Args:
        problem: MDP or :class:`GaussianBandit` (see :func:`truncated_objective`).
        theta: ``(d,)`` parameters.
        horizon: ``H >= 1`` steps per trajectory (ignored by the bandit).
        n_trajectories: ``n >= 1`` independent trajectories.
        seed: int, SeedSequence, Generator or None.
        rho: ``(S,)`` start distribution (MDPs).

    Returns:
        ``(n, d)`` per-trajectory estimates :math:`g(\tau_i, \theta)`.

    Example:
        >>> from theory_rl.mdps import chain
        >>> gpomdp_gradient(chain(3), [0.0] * 12, horizon=5, n_trajectories=4, seed=0).shape
        (4, 12)
    """
    return _estimate(problem, theta, None, horizon, n_trajectories, seed, rho)[0]


def sample_returns(
    mdp: TabularMDP | LinearMDP,
    theta: Any,
    *,
    horizon: int,
    n_trajectories: int = 1,
    seed: Any = None,
    rho: Any = None,
) -> np.ndarray:
    r"""Truncated discounted returns :math:`\sum_{t<H}\gamma^tr_t` of many trajectories in one
    numba call (sampling only; their mean estimates :math:`J_H(\theta)` without bias).

    Args:
        mdp: :class:`~theory_rl.mdps.tabular.TabularMDP` (softmax) or
            :class:`~theory_rl.mdps.linear.LinearMDP` (log-linear).
        theta: ``(d,)`` or ``(m, d)`` (``m`` policies, ``n`` trajectories each).
        horizon: ``H >= 1``; n_trajectories: ``n >= 1``; seed, rho: as in
            :func:`gpomdp_gradient`.

    Returns:
        ``(n,)`` or ``(m, n)`` returns.

    Example:
        >>> from theory_rl.mdps import chain
        >>> sample_returns(chain(3), [0.0] * 12, horizon=4, n_trajectories=3, seed=0).shape
        (3,)
    """
    model = _model(mdp, rho)
    if not isinstance(model, _MDPModel):
        raise ValueError("mdp must be a TabularMDP or a LinearMDP")
    H = as_int("horizon", horizon)
    n = as_int("n_trajectories", n_trajectories)
    th = _theta(theta, model.d)
    if th.ndim > 2:
        raise ValueError(f"theta must have shape (d,) or (m, d), got {th.shape}")
    table = th.reshape(-1, model.d)
    indptr, indices, cum, rewards, rho_cum, _ = model._arrays()
    pi_cum = np.ascontiguousarray(np.cumsum(model.probs(table), axis=-1).reshape(-1))
    out = np.empty(table.shape[0] * n)
    _kpg._policy_returns(
        as_generator(seed), indptr, indices, cum, rewards, rho_cum, pi_cum,
        np.int64(model.A), float(model.gamma), np.int64(H), np.int64(n), out,
    )  # fmt: skip
    return out if th.ndim == 1 else out.reshape(table.shape[0], n)


def hessian_vector_product(
    problem: Any,
    theta: Any,
    v: Any,
    *,
    horizon: int,
    n_trajectories: int = 1,
    seed: Any = None,
    rho: Any = None,
) -> np.ndarray:
    r"""One-trajectory estimates :math:`B(\tau_i,\theta)v = \nabla\Phi\langle\nabla\log
    p(\tau_i), v\rangle + \nabla^2\Phi\,v` of :math:`\nabla^2J_H(\theta)v`, matrix-free.

    Arguments as in :func:`gpomdp_gradient`, with ``v`` ``(d,)``.

    Returns:
        ``(n, d)`` per-trajectory estimates (their mean is unbiased).
    """
    return _estimate(problem, theta, v, horizon, n_trajectories, seed, rho)[1]


# --------------------------------------------------------------------------------------------
# pure steps
# --------------------------------------------------------------------------------------------
def step_schedule(
    method: str, k: Any, *, step_size: float = 1.0, momentum: float = 1.0
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Step sizes :math:`\gamma_k = \gamma_0(2/(k+2))^p` and momentum weights
    :math:`\eta_k = \eta_0(2/(k+2))^q` of the theorems (module docstring).

    ``(p, q)``: N-PG-IGT ``(1, 4/5)``; HARPG ``(1/2, 1)``; N-HARPG ``(1, 1)``; vanilla PG
    ``(2/3, -)``; normalised PG with momentum ``(1, 2/3)``.

    Returns:
        ``(gamma_k, eta_k)`` arrays like ``k`` (``eta_k`` None for vanilla PG).

    Example:
        >>> step_schedule("n_harpg", [0, 1, 2])[1]
        array([1.        , 0.66666667, 0.5       ])
    """
    if method not in _SCHEDULES:
        raise ValueError(f"method must be one of {list(_SCHEDULES)}, got {method!r}")
    step_size = as_positive("step_size", step_size)
    momentum = as_real("momentum", momentum, minimum=0.0, maximum=1.0, open_minimum=True)
    p, q = _SCHEDULES[method]
    base = 2.0 / (np.asarray(k, dtype=np.float64) + 2.0)
    return step_size * base**p, (None if q is None else momentum * base**q)


def extrapolation_point(theta: Any, theta_prev: Any, eta: Any) -> np.ndarray:
    r"""IGT's sampling point :math:`\theta + \frac{1-\eta}{\eta}(\theta - \theta_{prev})`."""
    eta = np.asarray(eta, dtype=np.float64)
    return (
        theta + ((1.0 - eta) / eta)[..., None] * (theta - theta_prev)
        if eta.ndim
        else (theta + (1.0 - eta) / eta * (theta - theta_prev))
    )


def momentum_direction(d: Any, g: Any, eta: Any, correction: Any = None) -> np.ndarray:
    r""":math:`(1-\eta)(d + v) + \eta g` (``v = correction``, 0 when omitted): the momentum of
    IGT and of normalised PG with momentum, and HARPG's recursion with its HVP correction."""
    base = d if correction is None else d + correction
    return (1.0 - eta) * base + eta * g


def ascent_step(theta: Any, d: Any, step: Any, *, normalize: bool) -> np.ndarray:
    r""":math:`\theta + \gamma d/\|d\|` (``normalize``; :math:`\theta` where ``d = 0``) or
    :math:`\theta + \gamma d`; ``d`` ``(..., d)`` normalised along the last axis."""
    if not normalize:
        return theta + step * d
    norm = np.sqrt((d * d).sum(-1, keepdims=True))
    return theta + step * np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)


def default_horizon(gamma: float, n_iterations: int) -> int:
    r"""The theorems' truncation :math:`H = \lceil\log(T+1)/(1-\gamma)\rceil` (at least 1)."""
    g = as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)
    T = as_int("n_iterations", n_iterations, minimum=0)
    return max(1, math.ceil(math.log(T + 1) / (1.0 - g)))


# --------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------
def _run(
    problem: Any,
    *,
    kind: str,
    step_size: float,
    momentum: float,
    n_iterations: int,
    horizon: int | None,
    n_runs: int,
    initial_theta: Any,
    oracle: str,
    rho: Any,
    record: Sequence[str],
    tol: float,
    callback: Callback | None,
    seed: Any,
    device: str | None,
    reference: Reference | None,
) -> SolveResult:
    K = as_int("n_iterations", n_iterations, minimum=0)
    tol = as_positive("tol", tol, allow_zero=True)
    record = check_record(record, SPG_METRICS)
    step_size = as_positive("step_size", step_size)
    momentum = as_real("momentum", momentum, minimum=0.0, maximum=1.0, open_minimum=True)
    B = as_int("n_runs", n_runs)
    if oracle not in ("sampled", "exact"):
        raise ValueError(f'oracle must be "sampled" or "exact", got {oracle!r}')
    if resolve_device(device) != "cpu":
        raise ValueError('device: stochastic PG samples with numba on the CPU; use "cpu"')
    model = _model(problem, rho)
    if isinstance(model, _MDPModel):
        H = default_horizon(model.gamma, K) if horizon is None else as_int("horizon", horizon)
    else:
        H = 1 if horizon is None else _check_horizon(model, horizon)
    if isinstance(model, _QuadraticModel) and oracle == "sampled":
        model.sample()
    d = model.d
    if initial_theta is None:
        theta0 = np.zeros((B, d))
    else:
        th = _theta(initial_theta, d, "initial_theta")
        if th.ndim > 2 or (th.ndim == 2 and th.shape[0] != B):
            raise ValueError(f"initial_theta must have shape ({d},) or ({B}, {d}), got {th.shape}")
        theta0 = np.broadcast_to(th, (B, d)).copy()
    if isinstance(model, _MDPModel):
        from theory_rl.algorithms.pmd import _exact_reference

        ref = _exact_reference(model.evaluator, reference)
        j_star = float(ref.values[0] @ model.rho)
    else:
        if reference is not None:
            raise ValueError("reference applies to MDP problems only (J* is known in closed form)")
        j_star = problem.optimum
    single = B == 1 and (initial_theta is None or np.ndim(initial_theta) == 1)
    p, q = _SCHEDULES[kind]
    hvp_kind = kind in ("harpg", "n_harpg")
    normalize = kind != "harpg" and kind != "vanilla_policy_gradient"
    per_iteration = 2 if hvp_kind else 1

    def grad(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if oracle == "exact":
            return model.gradient(theta, H)
        return model.sample(theta, H, rng)[0]

    def hvp(theta: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if oracle == "exact":
            return np.einsum("nde,ne->nd", model.hessian(theta, H), v)
        return model.sample(theta, H, rng, 1, v)[1]

    def init(rng: np.random.Generator) -> dict[str, Any]:
        return dict(theta=theta0, d=grad(theta0, rng), samples=1, rng=rng)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        rng, theta, dk = state["rng"], state["theta"], state["d"]
        step = step_size * (2.0 / (k + 2.0)) ** p
        new = ascent_step(theta, dk, step, normalize=normalize)
        if q is None:  # vanilla PG
            return dict(theta=new, d=grad(new, rng), samples=state["samples"] + 1, rng=rng)
        eta = momentum * (2.0 / (k + 3.0)) ** q  # eta_{k+1}
        if kind == "n_pg_igt":
            g = grad(extrapolation_point(new, theta, eta), rng)
            direction = momentum_direction(dk, g, eta)
        elif hvp_kind:
            u = rng.random(B)[:, None]
            hat = u * new + (1.0 - u) * theta
            v = hvp(hat, new - theta, rng)
            direction = momentum_direction(dk, grad(new, rng), eta, v)
        else:
            direction = momentum_direction(dk, grad(new, rng), eta)
        return dict(theta=new, d=direction, samples=state["samples"] + per_iteration, rng=rng)

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        theta, out = state["theta"], {}
        if "gap" in keys or "objective" in keys:
            J = model.objective(theta)
            if "gap" in keys:
                out["gap"] = j_star - J
            if "objective" in keys:
                out["objective"] = J
        if "samples" in keys:
            out["samples"] = np.full(B, state["samples"], dtype=np.int64)
        if "grad_norm" in keys:
            g = model.gradient(theta, None if isinstance(model, _MDPModel) else H)
            out["grad_norm"] = np.sqrt((g**2).sum(-1))
        if "direction_error" in keys:
            out["direction_error"] = np.sqrt(((state["d"] - model.gradient(theta, H)) ** 2).sum(-1))
        return {key: (val[0] if single else val) for key, val in out.items()}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        theta = state["theta"]
        if isinstance(model, _MDPModel):
            pi, v, qv = model.values(theta)
            return (pi[0], v[0], qv[0]) if single else (pi, v, qv)
        J = model.objective(theta)
        return (theta[0], np.asarray(J[0]), None) if single else (theta, J, None)

    method = Method(
        name=kind,
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=SPG_METRICS,
        stop_metric="gap",
        batch_shape=() if single else (B,),
    )
    params = dict(
        step_size=step_size,
        momentum=momentum,
        horizon=H,
        n_runs=B,
        oracle=oracle,
        trajectories_per_iteration=per_iteration,
        step_exponent=p,
        momentum_exponent=q,
        optimum=j_star,
    )
    res = iterate(
        method, n_iterations=K, tol=tol, record=record, callback=callback, seed=seed, params=params
    )
    return res


def _settings(local: dict[str, Any]) -> dict[str, Any]:
    return {key: val for key, val in local.items() if key != "problem"}


def n_pg_igt(
    problem: Any,
    *,
    step_size: float = 0.1,
    momentum: float = 1.0,
    n_iterations: int = 100,
    horizon: int | None = None,
    n_runs: int = 1,
    initial_theta: Any = None,
    oracle: str = "sampled",
    rho: Any = None,
    record: Sequence[str] = ("gap", "samples"),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""N-PG-IGT (Algorithm 1): normalised ascent with implicit gradient transport; one
    trajectory per iteration at the extrapolated point (module docstring).

    Args:
        problem: :class:`~theory_rl.mdps.tabular.TabularMDP` (tabular softmax),
            :class:`~theory_rl.mdps.linear.LinearMDP` (log-linear over its features),
            :class:`GaussianBandit` or :class:`QuadraticObjective` (``oracle="exact"`` only).
        step_size: :math:`\gamma_0 > 0` of :func:`step_schedule`.
        momentum: :math:`\eta_0 \in (0, 1]` scaling the momentum weights (``k >= 1``).
        n_iterations: updates ``T`` (the history has ``T + 1`` entries).
        horizon: truncation ``H >= 1`` (default :func:`default_horizon` ``(gamma, T)``; the
            bandit has ``H = 1``).
        n_runs: ``B`` independent runs in one call (history ``(B, T+1)``; one run ``(T+1,)``).
        initial_theta: ``(d,)`` or ``(B, d)`` (default 0).
        oracle: ``"sampled"`` (one-trajectory estimators) or ``"exact"`` (:math:`\nabla J_H`
            and :math:`\nabla^2 J_H v`).
        rho: ``(S,)`` start distribution (MDPs; default the MDP's).
        record: keys of :data:`SPG_METRICS` (``samples``: trajectories drawn so far).
        tol: stop once every run has ``gap <= tol`` (``0``: never).
        callback: ``callback(intermediate)`` after each iterate; ``StopIteration`` stops.
        seed: int, SeedSequence, Generator or None (one stream for all runs).
        device: ``"cpu"`` (sampling runs in numba on the CPU).
        reference: :func:`~theory_rl.algorithms.exact.reference` of the MDP and ``rho``
            (:math:`J^* = \rho^\top V^*`); the bandit and the quadratic know :math:`J^*`.

    Returns:
        :class:`~theory_rl.result.SolveResult`: for MDPs ``policy`` ``([B,] S, A)``, ``values``
        ``([B,] S)`` and ``q_values``; for the bandit and the quadratic ``policy`` is the final
        ``theta`` ``([B,] d)`` and ``values`` :math:`J(\theta)`.  ``params`` echo the settings
        with ``horizon``, ``trajectories_per_iteration`` and ``optimum`` (:math:`J^*`).
    """
    return _run(problem, kind="n_pg_igt", **_settings(locals()))


def harpg(
    problem: Any,
    *,
    step_size: float = 0.1,
    momentum: float = 1.0,
    n_iterations: int = 100,
    horizon: int | None = None,
    n_runs: int = 1,
    initial_theta: Any = None,
    oracle: str = "sampled",
    rho: Any = None,
    record: Sequence[str] = ("gap", "samples"),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""HARPG (Algorithm 2): momentum with a one-trajectory Hessian-vector correction at a
    uniform interpolation point, unnormalised step; two trajectories per iteration.

    Arguments and result as in :func:`n_pg_igt`.
    """
    return _run(problem, kind="harpg", **_settings(locals()))


def n_harpg(
    problem: Any,
    *,
    step_size: float = 0.1,
    momentum: float = 1.0,
    n_iterations: int = 100,
    horizon: int | None = None,
    n_runs: int = 1,
    initial_theta: Any = None,
    oracle: str = "sampled",
    rho: Any = None,
    record: Sequence[str] = ("gap", "samples"),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""N-HARPG (Algorithm 2, normalised step); two trajectories per iteration.

    Arguments and result as in :func:`n_pg_igt`.

    Example:
        >>> import numpy as np
        >>> bandit = GaussianBandit(np.eye(2), np.array([1.0, -1.0]))
        >>> res = n_harpg(bandit, step_size=0.5, n_iterations=200, n_runs=8, seed=0)
        >>> res.history["gap"].shape, int(res.history["samples"][0, -1])
        ((8, 201), 401)
    """
    return _run(problem, kind="n_harpg", **_settings(locals()))


def vanilla_policy_gradient(
    problem: Any,
    *,
    step_size: float = 0.1,
    momentum: float = 1.0,
    n_iterations: int = 100,
    horizon: int | None = None,
    n_runs: int = 1,
    initial_theta: Any = None,
    oracle: str = "sampled",
    rho: Any = None,
    record: Sequence[str] = ("gap", "samples"),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Stochastic vanilla policy gradient :math:`\theta_{k+1} = \theta_k + \gamma_k
    g(\tau_k, \theta_k)` (GPOMDP, one trajectory per iteration; baseline).

    Arguments and result as in :func:`n_pg_igt`.
    """
    return _run(problem, kind="vanilla_policy_gradient", **_settings(locals()))


def normalized_momentum_pg(
    problem: Any,
    *,
    step_size: float = 0.1,
    momentum: float = 1.0,
    n_iterations: int = 100,
    horizon: int | None = None,
    n_runs: int = 1,
    initial_theta: Any = None,
    oracle: str = "sampled",
    rho: Any = None,
    record: Sequence[str] = ("gap", "samples"),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Normalised PG with momentum :math:`d_{k+1} = (1-\eta_{k+1})d_k + \eta_{k+1}
    g(\tau_{k+1}, \theta_{k+1})` (baseline; one trajectory per iteration).

    Arguments and result as in :func:`n_pg_igt`.
    """
    return _run(problem, kind="normalized_momentum_pg", **_settings(locals()))

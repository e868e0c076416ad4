r"""Policy mirror descent (PMD), generalised PMD (GPMD) and finite-memory PMD (StaQ).

**Update** (per state ``s``; ``q`` ``(S, A)`` the action values of the current policy):

.. math::

    \pi^{k+1}_s = \arg\max_{p \in \Delta(A)} \; \eta_k \langle q^{k}_s, p \rangle
                  - D(p, \pi^k_s).

* ``mirror="kl"``: :math:`\pi^{k+1}_s \propto \pi^k_s \exp(\eta_k q^k_s)`, computed in log space
  (:func:`theory_rl.algorithms.mirror.kl_prox_log`), so steps growing like
  :math:`\gamma^{-2k}` are safe.
* ``mirror="euclidean"``: :math:`\pi^{k+1}_s = \mathrm{Proj}_\Delta(\pi^k_s + \eta_k q^k_s)`
  (exact sort-based projection, :func:`theory_rl.algorithms.mirror.euclidean_prox`).

**Step sizes** (``schedule``):

* ``"constant"``: :math:`\eta_k = \eta`.  Xiao (2022) **Thm 8** (any Bregman divergence,
  :math:`\pi^0` in the relative interior, any :math:`\eta > 0`):
  :math:`V^*(\rho) - V^k(\rho) \le \frac{1}{k+1}\big[\frac{D^*_0}{(1-\gamma)\eta}
  + \frac{1}{(1-\gamma)^2}\big]` with :math:`D^*_k = \mathbb E_{s\sim d_\rho^{\pi^*}}
  D(\pi^*_s, \pi^k_s)`, rewards in ``[0, 1]``.
* ``"geometric"``: :math:`\eta_k = \eta/\gamma^k`.  Xiao **Thm 10**: with
  :math:`\vartheta_\rho = \frac{1}{1-\gamma}\|d_\rho^{\pi^*}/\rho\|_\infty`,
  :math:`V^*(\rho) - V^k(\rho) \le (1 - 1/\vartheta_\rho)^k\,[V^*(\rho) - V^0(\rho)
  + D^*_0/(\gamma\eta_0)]`.
* ``"adaptive"``: Johnson, Pike-Burke & Rebeschini (2023):
  :math:`\eta_k = \max(\eta, \|\min_{p\in G_k} D(p, \pi^k)\|_\infty / c_k)` with
  :math:`c_k = c_0\gamma^{2(k+1)}` and :math:`G_k` the greedy policies of :math:`q^k`; then
  :math:`\|V^* - V^k\|_\infty \le \gamma^k(\|V^* - V^0\|_\infty
  + \frac{1}{1-\gamma}\sum_{t=1}^k c_{t-1}\gamma^{-t})` for every ``k`` and either mirror map.
  KL: :math:`\min_{p\in G} D = -\log\sum_{a\in G}\pi^k(a|s)` (exact ties of ``q`` form the
  greedy set).  Euclidean: the divergence to the first greedy vertex, summed term by term
  (:math:`\ge` the minimum over :math:`G`, so the step is at least the stated minimum).

**Inexact and sampled Q.**  ``q_error=b`` adds a perturbation with
:math:`\|\hat q - q\|_\infty \le b` (``q_error_model``: ``"uniform"`` i.i.d. :math:`U[-b, b]`;
``"adversarial"`` :math:`-b` on the current greedy action, :math:`+b` elsewhere; ``"fixed"``
:math:`-b` on the optimal action, :math:`+b` elsewhere).  Johnson et al. (inexact, [V2]):
the bound above plus the floor :math:`4b/(1-\gamma)^2`.  ``q_estimator="rollout"`` or
``"generative"`` replaces :math:`q^k` by :func:`theory_rl.algorithms.sampling.estimate_q`.

**GPMD** (Zhan et al. 2023; :func:`gpmd_step`, :func:`generalized_policy_mirror_descent`):
for the regularised objective :math:`V_\tau^\pi = \mathbb E\sum_t \gamma^t(r - \tau h(\pi_{s_t}))`
with convex ``h`` (``"entropy"`` :math:`\sum p\log p`, ``"tsallis"`` :math:`\frac12\|p\|^2`,
``"log_barrier"`` :math:`-\sum\log p`), the step
:math:`\arg\min_p -\langle q_\tau, p\rangle + \tau h(p) + \frac1\eta D_h^{\xi}(p, \pi^k)`
is, in the surrogate :math:`\xi` (a subgradient of ``h`` at :math:`\pi^k`),

.. math::  \xi^{k+1} = \frac{\xi^k + \eta q^k_\tau}{1 + \eta\tau}, \qquad
           \pi^{k+1}_s = \arg\min_p \; h(p) - \langle \xi^{k+1}_s, p\rangle

(derived from the optimality condition :math:`0 \in -q + \tau\partial h(p)
+ \frac1\eta(\partial h(p) - \xi^k) + N_\Delta(p)`).  Zhan et al. Thm 1 ([V2]): linear
convergence of :math:`\|Q^*_\tau - Q^k_\tau\|_\infty` at rate :math:`1 - (1-\alpha)(1-\gamma)`,
:math:`\alpha = 1/(1+\eta\tau)`, for every :math:`\eta > 0`.

**StaQ** (Shilova et al. 2025), entropy + KL PMD with finite memory ``M``: unrolling the
entropy recursion from a uniform :math:`\pi^0`, :math:`\log\pi^{k+1} = \alpha\sum_{i\le k}
\beta^{k-i} q^i_\tau + \text{const}` with :math:`\beta = 1/(1+\eta\tau)`,
:math:`\alpha = \eta/(1+\eta\tau)`; StaQ keeps the last ``M`` terms.  [D] The truncated
weights sum to
:math:`\alpha(1-\beta^M)/(1-\beta) = (1-\beta^M)/\tau`, so a limit of the iterates satisfies
:math:`\pi = \mathrm{softmax}(Q^\pi_\tau/\tau_M)` with :math:`\tau_M = \tau/(1-\beta^M)`
(the regularised ``Q`` at temperature ``tau`` but a greedy step at ``tau_M``); its distance to
the regularised optimum vanishes as :math:`\beta^M \to 0`.

.. warning:: Deviations.  Xiao states cost minimisation; here rewards are maximised
   (:math:`r \mapsto 1 - r`).  The adaptive Euclidean step uses the first greedy vertex rather
   than the minimum over all greedy policies (larger step, still admissible).  StaQ's own
   weight correction is not implemented (plain truncation; the paper's exact update is
   unverified).  Tsallis is the index-2 form :math:`\frac12\|p\|^2`.

Batches: ``eta`` of shape ``(B,)`` and/or a list of ``B`` MDPs of equal ``(S, A)`` run as one
vectorised computation: policies ``(B, S, A)``, batched linear solves, history arrays
``(B, n_iterations + 1)``.  Generic array code (NumPy or CuPy with ``device="gpu"``).

References:
    L. Xiao. On the convergence rates of policy gradient methods. JMLR 23(282), 2022,
    arXiv:2201.07443.
    E. Johnson, C. Pike-Burke, P. Rebeschini. Optimal convergence rate for exact policy mirror
    descent in discounted Markov decision processes. NeurIPS 2023, arXiv:2302.11381.
    W. Zhan, S. Cen, B. Huang, Y. Chen, J. D. Lee, Y. Chi. Policy mirror descent for
    regularized reinforcement learning: a generalized framework with linear convergence.
    SIAM J. Optim. 33(2), 2023, arXiv:2105.11066.
    A. Shilova, T. Davey, A. Driss, R. Akrour. StaQ it! Growing neural networks for policy
    mirror descent (finite-memory PMD), arXiv:2506.13862, 2025.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int
from theory_rl.algorithms import dp
from theory_rl.algorithms import sampling as _sampling
from theory_rl.algorithms.mirror import (
    LOG_FLOOR,
    REGULARIZERS,
    euclidean_prox,
    kl_prox,
    kl_prox_log,
    regularizer_argmin,
    regularizer_gradient,
    regularizer_value,
)
from theory_rl.backend import array_namespace, as_generator, namespace_of, resolve_device
from theory_rl.backend import to_numpy as _np
from theory_rl.mdps.tabular import TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "MIRRORS",
    "REGULARIZERS",
    "SCHEDULES",
    "adaptive_step_size",
    "generalized_policy_mirror_descent",
    "gpmd_step",
    "pmd_step",
    "policy_mirror_descent",
    "regularized_optimum",
    "regularizer_argmin",
    "staq_policy_mirror_descent",
]

MIRRORS = ("kl", "euclidean")
SCHEDULES = ("constant", "geometric", "adaptive")
Q_ERROR_MODELS = ("uniform", "adversarial", "fixed")
RECORD = ("gap", "sup_gap", "kl_to_opt", "divergence_to_opt", "samples", "eta")
Callback = Callable[[SolveResult], None]


# --------------------------------------------------------------------------------------------
# pure steps
# --------------------------------------------------------------------------------------------
def _check_mirror(mirror: str) -> str:
    if mirror not in MIRRORS:
        raise ValueError(f"mirror must be one of {MIRRORS}, got {mirror!r}")
    return mirror


def pmd_step(policy: Any, q: Any, *, eta: Any, mirror: str = "kl") -> Any:
    r"""One PMD step :math:`\pi' = \arg\max_p \eta\langle q, p\rangle - D(p, \pi)` per row.

    Args:
        policy: ``(..., S, A)`` row-stochastic policy (a batch allowed).
        q: ``(..., S, A)`` action values (or any scores; per-row shifts do not matter for KL).
        eta: step size ``> 0``: a scalar or an array broadcasting against ``policy[..., :1]``,
            e.g. ``(B, 1, 1)``.
        mirror: ``"kl"`` (:math:`\pi' \propto \pi e^{\eta q}`) or ``"euclidean"``
            (:math:`\mathrm{Proj}_\Delta(\pi + \eta q)`).

    Returns:
        The new policy, same shape and array namespace as ``policy``.

    Example:
        >>> import numpy as np
        >>> pmd_step(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]), eta=np.log(3.0))
        array([[0.75, 0.25]])
    """
    if mirror == "kl":
        return kl_prox(policy, q, eta)
    _check_mirror(mirror)
    return euclidean_prox(policy, _shifted(q), eta)


def _shifted(q: Any) -> Any:
    """``q - max_a q`` per row: the simplex projection is invariant to per-row shifts, and with
    scores ``<= 0`` a huge step cannot make ``pi + eta q`` lose the ``O(1)`` entries to
    cancellation (``(u - 1) == u`` for ``u = 1e20``)."""
    return q - q.max(axis=-1, keepdims=True)


def gpmd_step(
    xi: Any, q: Any, *, eta: Any, tau: float, regularizer: str = "entropy"
) -> tuple[Any, Any]:
    r"""One GPMD step: :math:`\xi' = (\xi + \eta q_\tau)/(1+\eta\tau)`,
    :math:`\pi' = \arg\min_p h(p) - \langle\xi', p\rangle`.

    Args:
        xi: ``(..., S, A)`` surrogate (e.g. ``log pi`` for entropy, ``pi`` for Tsallis,
            ``-1/pi`` for the log-barrier).
        q: ``(..., S, A)`` regularised action values :math:`Q_\tau^{\pi}`.
        eta: step size ``> 0`` (scalar or broadcastable).
        tau: regularisation weight ``> 0``.
        regularizer: ``"entropy"``, ``"tsallis"`` or ``"log_barrier"``.

    Returns:
        ``(policy, xi_next)``.  With entropy this is
        :math:`\pi' \propto \pi^{1/(1+\eta\tau)} e^{\eta q/(1+\eta\tau)}`.
    """
    xi_next = (xi + eta * q) / (1.0 + eta * tau)
    return regularizer_argmin(xi_next, regularizer), xi_next


# --------------------------------------------------------------------------------------------
# problem preparation and exact batched evaluation
# --------------------------------------------------------------------------------------------
class _Problem:
    """Dense arrays of one MDP or a batch of equal-shape MDPs on one device.

    ``P`` ``(Bm, S, A, S)``, ``r`` ``(Bm, S, A)``, ``gamma`` ``(Bm,)``, ``rho`` ``(Bm, S)``.
    """

    def __init__(self, mdp: Any, device: str | None, rho: Any = None):
        self.single = isinstance(mdp, TabularMDP)
        mdps = [mdp] if self.single else list(mdp)
        if not mdps or not all(isinstance(m, TabularMDP) for m in mdps):
            raise ValueError("mdp must be a TabularMDP or a non-empty sequence of them")
        S, A = mdps[0].n_states, mdps[0].n_actions
        if any((m.n_states, m.n_actions) != (S, A) for m in mdps):
            raise ValueError("mdp: all MDPs of a batch must have the same (S, A)")
        self.mdps, self.S, self.A = mdps, S, A
        self.device = resolve_device(device)
        xp = self.xp = array_namespace(self.device)
        self.P = xp.asarray(np.stack([m.to_dense().transitions for m in mdps]))
        self.r = xp.asarray(np.stack([m.rewards for m in mdps]))
        self.gamma_np = np.array([m.gamma for m in mdps])
        self.gamma = xp.asarray(self.gamma_np)
        if rho is None:
            rho_np = np.stack([m.initial_distribution for m in mdps])
        else:
            rho_np = np.broadcast_to(np.asarray(_np(rho), dtype=np.float64), (len(mdps), S))
            if np.any(rho_np < 0) or np.any(np.abs(rho_np.sum(-1) - 1) > 1e-8):
                raise ValueError("rho must be a distribution over the S states")
        self.rho_np = np.array(rho_np)
        self.rho = xp.asarray(self.rho_np)

    def evaluate(self, pi: Any, penalty: Any = None) -> tuple[Any, Any]:
        """``(V (B, S), Q (B, S, A))`` of ``pi`` ``(B, S, A)``; ``penalty`` ``(B, S)`` is
        subtracted from the reward (regularised values)."""
        xp = self.xp
        g = self.gamma[:, None, None]
        P_pi = xp.einsum("...sa,...sat->...st", pi, self.P)
        r_pi = (pi * self.r).sum(axis=-1)
        if penalty is not None:
            r_pi = r_pi - penalty
        M = xp.eye(self.S) - g * P_pi
        v = xp.linalg.solve(M, r_pi[..., None])[..., 0]
        q = self.r + g * xp.einsum("...sat,...t->...sa", self.P, v)
        return v, q

    def reference(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(V* (Bm, S), pi* (Bm, S, A), d* (Bm, S))`` by exact policy iteration."""
        vs, pis, ds = [], [], []
        for m, rho in zip(self.mdps, self.rho_np, strict=True):
            res = dp.policy_iteration(m, evaluation="direct")
            vs.append(np.asarray(res.values))
            pis.append(np.asarray(res.policy))
            ds.append(dp.occupancy_measure(m, res.policy, rho))
        return np.stack(vs), np.stack(pis), np.stack(ds)


def _eta_batch(eta: Any, name: str = "eta", allow_zero: bool = False) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(_np(eta), dtype=np.float64))
    if (
        arr.ndim != 1
        or not np.all(np.isfinite(arr))
        or not np.all(arr >= 0 if allow_zero else arr > 0)
    ):
        raise ValueError(f"{name} must be a positive finite scalar or (B,) array, got {eta!r}")
    return arr


def _batch_size(n_eta: int, n_mdp: int) -> int:
    if n_eta != 1 and n_mdp != 1 and n_eta != n_mdp:
        raise ValueError(f"eta has {n_eta} entries but {n_mdp} MDPs were given; they must match")
    return max(n_eta, n_mdp)


def _initial(problem: _Problem, initial_policy: Any, B: int) -> np.ndarray:
    if initial_policy is None:
        return np.full((B, problem.S, problem.A), 1.0 / problem.A)
    pi = validate_policy(_np(initial_policy), problem.S, problem.A, name="initial_policy")
    return np.array(np.broadcast_to(pi, (B, problem.S, problem.A)))


def adaptive_step_size(policy: Any, q: Any, *, c: Any, mirror: str = "kl") -> Any:
    r"""Johnson et al.'s smallest admissible step :math:`\|\min_{p\in G} D(p,\pi_s)\|_\infty/c`.

    Args:
        policy: ``(B, S, A)`` current policy (``(S, A)`` allowed).
        q: ``(B, S, A)`` the action values the step uses.
        c: ``c_k > 0``, scalar or ``(B,)``.
        mirror: ``"kl"`` or ``"euclidean"`` (see the module docstring).

    Returns:
        ``(B,)`` (or scalar) step sizes.
    """
    xp = namespace_of(policy, q)
    greedy = q >= q.max(axis=-1, keepdims=True)  # exact ties form the greedy set
    if mirror == "kl":
        mass = xp.where(greedy, policy, 0.0).sum(axis=-1)
        with np.errstate(divide="ignore"):
            d = -xp.log(xp.minimum(mass, 1.0))
    else:
        _check_mirror(mirror)
        first = xp.argmax(q, axis=-1)[..., None]
        vertex = (xp.arange(q.shape[-1]) == first).astype(np.float64)
        d = 0.5 * ((vertex - policy) ** 2).sum(axis=-1)
    return d.max(axis=-1) / c


def _kl_rows(p: Any, q_log: Any) -> Any:
    """``KL(p || exp(q_log))`` per row, ``0 log 0 = 0``."""
    xp = namespace_of(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(p > 0, p * (xp.log(p) - q_log), 0.0).sum(axis=-1)


def _stack_history(rows: dict[str, list], single: bool) -> dict[str, np.ndarray]:
    out = {}
    for key, vals in rows.items():
        arr = np.stack(vals, axis=-1) if vals else np.empty((0,))
        out[key] = arr[0] if single and arr.ndim == 2 else arr
    return out


def _callback_stops(callback: Callback | None, policy, values, k, history, params) -> bool:
    if callback is None:
        return False
    try:
        callback(
            SolveResult(
                policy=policy,
                values=values,
                q_values=None,
                n_iterations=k,
                converged=False,
                message="in progress",
                history=history,
                params=params,
            )
        )
    except StopIteration:
        return True
    return False


# --------------------------------------------------------------------------------------------
# PMD driver
# --------------------------------------------------------------------------------------------
def policy_mirror_descent(
    mdp: TabularMDP | Sequence[TabularMDP],
    *,
    eta: Any = 1.0,
    mirror: str = "kl",
    schedule: str = "constant",
    c0: float = 1.0,
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    rho: Any = None,
    q_error: float = 0.0,
    q_error_model: str = "uniform",
    q_estimator: str | None = None,
    n_rollouts: int = 100,
    horizon: int | None = None,
    record: Sequence[str] = RECORD,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Policy mirror descent with exact, perturbed or sampled action values.

    Args:
        mdp: a :class:`TabularMDP`, or a sequence of ``B`` MDPs with equal ``(S, A)`` (batch).
        eta: step size ``> 0`` (``eta_0`` for ``"geometric"``, the floor of the adaptive step
            for ``"adaptive"``; ``0`` allowed there); a ``(B,)`` array runs a batch.
        mirror: ``"kl"`` or ``"euclidean"``.
        schedule: ``"constant"``, ``"geometric"`` (:math:`\eta_k = \eta/\gamma^k`) or
            ``"adaptive"`` (Johnson et al., :math:`c_k = c_0\gamma^{2(k+1)}`).
        c0: ``c_0 > 0`` of the adaptive schedule.
        n_iterations: PMD updates ``K``; the history has ``K + 1`` entries (``k = 0..K``).
        tol: stop early once every run has ``sup_gap <= tol`` (``0``: never).
        initial_policy: ``(S, A)``; uniform if omitted (Xiao's theorems need it interior).
        rho: ``(S,)`` performance measure of ``gap`` and ``d*``; ``mdp.initial_distribution``
            if omitted.
        q_error: ``b >= 0``: perturb :math:`q^k` with :math:`\|\hat q - q\|_\infty \le b`.
        q_error_model: ``"uniform"``, ``"adversarial"`` or ``"fixed"`` (module docstring).
        q_estimator: ``None`` (exact), ``"rollout"`` or ``"generative"``
            (:func:`theory_rl.algorithms.sampling.estimate_q` with ``n_rollouts`` and
            ``horizon``).
        record: history keys among ``"gap"`` (:math:`V^*(\rho) - V^k(\rho)`), ``"sup_gap"``
            (:math:`\|V^* - V^k\|_\infty`), ``"kl_to_opt"``
            (:math:`\mathbb E_{d_\rho^{\pi^*}} KL(\pi^*_s\|\pi^k_s)`), ``"divergence_to_opt"``
            (the same in the run's mirror map: Xiao's :math:`D^*_k`), ``"samples"``
            (cumulative transitions drawn) and ``"eta"`` (the step used at ``k``; NaN at the
            last entry).
        callback: ``callback(intermediate)`` after each evaluation; ``StopIteration`` stops.
        seed: seeds the perturbations and the samplers.
        device: ``"cpu"``, ``"gpu"`` or None.

    Returns:
        :class:`SolveResult` with ``policy`` ``(S, A)`` (``(B, S, A)`` for a batch), ``values``
        and ``q_values`` of the last policy, history arrays ``(K+1,)`` or ``(B, K+1)``, and
        ``params`` holding ``v_star`` and ``d_star``.
    """
    _check_mirror(mirror)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if q_error_model not in Q_ERROR_MODELS:
        raise ValueError(f"q_error_model must be one of {Q_ERROR_MODELS}, got {q_error_model!r}")
    if q_estimator not in (None, "rollout", "generative"):
        raise ValueError(
            f'q_estimator must be None, "rollout" or "generative", got {q_estimator!r}'
        )
    if not float(q_error) >= 0:
        raise ValueError(f"q_error must be >= 0, got {q_error}")
    if not float(c0) > 0:
        raise ValueError(f"c0 must be > 0, got {c0}")
    if not float(tol) >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    K = as_int("n_iterations", n_iterations, minimum=0)
    unknown = set(record) - set(RECORD)
    if unknown:
        raise ValueError(f"record has unknown keys {sorted(unknown)}; choose from {RECORD}")
    etas = _eta_batch(eta, allow_zero=schedule == "adaptive")
    problem = _Problem(mdp, device, rho)
    xp = problem.xp
    B = _batch_size(etas.size, len(problem.mdps))
    single = problem.single and np.ndim(_np(eta)) == 0
    rng = as_generator(seed)

    v_star_np, pi_star_np, d_star_np = problem.reference()
    v_star, pi_star, d_star = (xp.asarray(x) for x in (v_star_np, pi_star_np, d_star_np))
    gamma = np.broadcast_to(problem.gamma_np, (B,))
    eta0 = xp.asarray(np.broadcast_to(etas, (B,)))[:, None, None]
    pi = xp.asarray(_initial(problem, initial_policy, B))
    with np.errstate(divide="ignore"):
        log_pi = xp.maximum(xp.log(pi), LOG_FLOOR)

    rows: dict[str, list] = {key: [] for key in record}
    samples = np.zeros(B, dtype=np.int64)
    params = dict(
        method="policy_mirror_descent",
        eta=etas if etas.size > 1 else float(etas[0]),
        mirror=mirror,
        schedule=schedule,
        c0=float(c0),
        n_iterations=K,
        tol=float(tol),
        q_error=float(q_error),
        q_error_model=q_error_model,
        q_estimator=q_estimator,
        n_rollouts=n_rollouts,
        horizon=horizon,
        device=problem.device,
        v_star=v_star_np[0] if problem.single else v_star_np,
        d_star=d_star_np[0] if problem.single else d_star_np,
    )
    converged, message = False, f"n_iterations={K} updates done"
    k = 0
    while True:
        v, q = problem.evaluate(pi)
        diff = v_star - v
        sup_gap = diff.max(axis=-1)
        if "gap" in rows:
            rows["gap"].append(_np((problem.rho * diff).sum(axis=-1)))
        if "sup_gap" in rows:
            rows["sup_gap"].append(_np(sup_gap))
        if "kl_to_opt" in rows or ("divergence_to_opt" in rows and mirror == "kl"):
            kl = _np((d_star * _kl_rows(pi_star, log_pi)).sum(axis=-1))
            if "kl_to_opt" in rows:
                rows["kl_to_opt"].append(kl)
        if "divergence_to_opt" in rows:
            if mirror == "kl":
                rows["divergence_to_opt"].append(kl)
            else:
                eu = 0.5 * ((pi_star - pi) ** 2).sum(axis=-1)
                rows["divergence_to_opt"].append(_np((d_star * eu).sum(axis=-1)))
        if "samples" in rows:
            rows["samples"].append(samples.copy())
        history = _stack_history(
            {**rows, **({"eta": rows["eta"] + [np.full(B, np.nan)]} if "eta" in rows else {})},
            single,
        )
        pol_np = _np(pi)
        if _callback_stops(
            callback,
            pol_np[0] if single else pol_np,
            _np(v)[0] if single else _np(v),
            k,
            history,
            params,
        ):
            message = "stopped by callback"
            break
        if tol > 0 and float(sup_gap.max()) <= tol:
            converged, message = True, f"sup_gap <= tol = {tol:g} for every run"
            break
        if k == K:
            converged = tol == 0
            break
        # ---- the action values the update uses
        if q_estimator is not None:
            q_np = np.empty((B, problem.S, problem.A))
            for b in range(B):
                m = problem.mdps[b % len(problem.mdps)]
                q_np[b], used = _sampling.estimate_q(
                    m,
                    pol_np[b],
                    n_rollouts=n_rollouts,
                    horizon=horizon,
                    seed=rng,
                    method=q_estimator,
                )
                samples[b] += used
            q_used = xp.asarray(q_np)
        else:
            q_used = q
        if q_error > 0:
            q_used = q_used + xp.asarray(
                _perturbation(q_error_model, q_error, _np(q_used), pi_star_np, rng, B)
            )
        # ---- the step size
        if schedule == "constant":
            eta_k = eta0
        elif schedule == "geometric":
            eta_k = eta0 / xp.asarray(gamma**k)[:, None, None]
        else:
            c_k = xp.asarray(float(c0) * gamma ** (2 * (k + 1)))
            eta_k = xp.maximum(eta0[:, 0, 0], adaptive_step_size(pi, q_used, c=c_k, mirror=mirror))[
                :, None, None
            ]
        if "eta" in rows:
            rows["eta"].append(_np(eta_k[:, 0, 0]))
        # ---- the update
        if mirror == "kl":
            log_pi = kl_prox_log(log_pi, q_used, eta_k)
            pi = xp.exp(log_pi)
        else:
            pi = euclidean_prox(pi, _shifted(q_used), eta_k)
            with np.errstate(divide="ignore"):
                log_pi = xp.maximum(xp.log(pi), LOG_FLOOR)
        k += 1
    history = _stack_history(
        {**rows, **({"eta": rows["eta"] + [np.full(B, np.nan)]} if "eta" in rows else {})},
        single,
    )
    pol, val, qv = _np(pi), _np(v), _np(q)
    return SolveResult(
        policy=pol[0] if single else pol,
        values=val[0] if single else val,
        q_values=qv[0] if single else qv,
        n_iterations=k,
        converged=converged,
        message=message,
        history=history,
        params=params,
        seed=seed,
    )


def _perturbation(
    model: str, b: float, q: np.ndarray, pi_star: np.ndarray, rng: np.random.Generator, B: int
) -> np.ndarray:
    """An error ``e`` ``(B, S, A)`` with ``|e| <= b`` (see the module docstring)."""
    if model == "uniform":
        return rng.uniform(-b, b, size=q.shape)
    target = q.argmax(axis=-1) if model == "adversarial" else pi_star.argmax(axis=-1)
    target = np.broadcast_to(target, q.shape[:-1])
    e = np.full(q.shape, b)
    np.put_along_axis(e, target[..., None], -b, axis=-1)
    return e


# --------------------------------------------------------------------------------------------
# regularised problems: GPMD and StaQ
# --------------------------------------------------------------------------------------------
def _check_tau(tau: float) -> float:
    tau = float(tau)
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive finite number, got {tau}")
    return tau


def regularized_optimum(
    mdp: TabularMDP, *, tau: float, regularizer: str = "entropy", max_iterations: int = 10_000
) -> tuple[np.ndarray, np.ndarray, float]:
    r"""``(Q*_tau (S, A), pi*_tau (S, A), error)`` by regularised policy iteration.

    :math:`\pi \leftarrow \arg\min_p h(p) - \langle Q^\pi_\tau/\tau, p\rangle` with exact
    regularised evaluation (GPMD with :math:`\eta = \infty`; contracts at rate ``gamma``),
    until the iterate stops changing.  ``error`` is the a-posteriori bound
    :math:`\|T_\tau Q - Q\|_\infty/(1-\gamma) \ge \|Q - Q^*_\tau\|_\infty` with
    :math:`(T_\tau Q)(s,a) = r + \gamma P\max_p(\langle Q, p\rangle - \tau h(p))`.
    """
    tau = _check_tau(tau)
    problem = _Problem(mdp, "cpu")
    pi = np.full((1, problem.S, problem.A), 1.0 / problem.A)
    q_prev = None
    scale = 1e-14 * max(1.0, float(np.abs(mdp.rewards).max()) / (1.0 - mdp.gamma))
    for _ in range(max_iterations):
        _, q = problem.evaluate(pi, tau * regularizer_value(pi, regularizer))
        pi = regularizer_argmin(q / tau, regularizer)
        if q_prev is not None and np.abs(q - q_prev).max() <= scale:
            break
        q_prev = q
    soft_v = (pi * q).sum(-1) - tau * regularizer_value(pi, regularizer)
    tq = problem.r + problem.gamma[:, None, None] * np.einsum("bsat,bt->bsa", problem.P, soft_v)
    error = float(np.abs(tq - q).max()) / (1.0 - mdp.gamma)
    return q[0], pi[0], error


def generalized_policy_mirror_descent(
    mdp: TabularMDP,
    *,
    eta: Any = 1.0,
    tau: float = 0.1,
    regularizer: str = "entropy",
    n_iterations: int = 100,
    initial_policy: Any = None,
    memory: int | None = None,
    reference: tuple[np.ndarray, np.ndarray, float] | None = None,
    callback: Callback | None = None,
    device: str | None = None,
) -> SolveResult:
    r"""GPMD (Zhan et al. 2023) for :math:`V_\tau^\pi`; with ``memory=M`` (entropy only) StaQ.

    Args:
        mdp: the MDP.
        eta: step size ``> 0``; a ``(B,)`` array runs a batch.
        tau: regularisation weight ``> 0``.
        regularizer: ``"entropy"``, ``"tsallis"`` or ``"log_barrier"``.
        n_iterations: updates ``K`` (history has ``K + 1`` entries).
        initial_policy: interior ``(S, A)`` policy; uniform if omitted (StaQ needs uniform).
        memory: ``None`` (full GPMD) or ``M >= 1``: keep only the last ``M`` action-value
            functions in the entropy surrogate (StaQ).
        reference: ``regularized_optimum(mdp, tau=tau, regularizer=regularizer)`` if already
            computed.
        callback: as in :func:`policy_mirror_descent`.
        device: ``"cpu"``, ``"gpu"`` or None.

    Returns:
        :class:`SolveResult`; history ``q_error`` (:math:`\|Q^*_\tau - Q^k_\tau\|_\infty`),
        ``gap`` (:math:`\rho^\top(V^*_\tau - V^k_\tau)`), ``kl_to_opt``
        (:math:`\max_s KL(\pi^*_{\tau,s}\|\pi^k_s)`); ``params["reference_error"]``.
    """
    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    tau = _check_tau(tau)
    K = as_int("n_iterations", n_iterations, minimum=0)
    if memory is not None:
        memory = as_int("memory", memory)
        if regularizer != "entropy":
            raise ValueError('memory (StaQ) needs regularizer="entropy"')
        if initial_policy is not None:
            raise ValueError("memory (StaQ) starts from the uniform policy: omit initial_policy")
    etas = _eta_batch(eta)
    problem = _Problem(mdp, device)
    xp = problem.xp
    B = etas.size
    single = np.ndim(_np(eta)) == 0
    q_ref, pi_ref, ref_err = (
        regularized_optimum(mdp, tau=tau, regularizer=regularizer)
        if reference is None
        else reference
    )
    q_star, pi_star = xp.asarray(q_ref), xp.asarray(pi_ref)
    v_star = (pi_star * q_star).sum(-1) - tau * regularizer_value(pi_star, regularizer)
    pi = xp.asarray(_initial(problem, initial_policy, B))
    xi = regularizer_gradient(pi, regularizer)
    e = xp.asarray(etas)[:, None, None]
    alpha, beta = e / (1.0 + e * tau), 1.0 / (1.0 + e * tau)
    past: deque = deque(maxlen=memory) if memory is not None else deque(maxlen=0)
    rows: dict[str, list] = {"q_error": [], "gap": [], "kl_to_opt": []}
    params = dict(
        method="gpmd" if memory is None else "staq",
        eta=etas if B > 1 else float(etas[0]),
        tau=tau,
        regularizer=regularizer,
        n_iterations=K,
        memory=memory,
        reference_error=ref_err,
        device=problem.device,
    )
    message, k = f"n_iterations={K} updates done", 0
    with np.errstate(divide="ignore"):
        while True:
            v, q = problem.evaluate(pi, tau * regularizer_value(pi, regularizer))
            rows["q_error"].append(_np(xp.abs(q_star - q).max(axis=(-1, -2))))
            rows["gap"].append(_np((problem.rho * (v_star - v)).sum(-1)))
            log_pi = xp.maximum(xp.log(pi), LOG_FLOOR)
            rows["kl_to_opt"].append(_np(_kl_rows(pi_star, log_pi).max(axis=-1)))
            hist = _stack_history(rows, single)
            pol = _np(pi)
            if _callback_stops(
                callback,
                pol[0] if single else pol,
                _np(v)[0] if single else _np(v),
                k,
                hist,
                params,
            ):
                message = "stopped by callback"
                break
            if k == K:
                break
            if memory is None:
                pi, xi = gpmd_step(xi, q, eta=e, tau=tau, regularizer=regularizer)
            else:
                past.append(q)
                n = len(past)
                xi = sum(alpha * beta ** (n - 1 - i) * qi for i, qi in enumerate(past))
                pi = regularizer_argmin(xi, "entropy")
            k += 1
    pol, val, qv = _np(pi), _np(v), _np(q)
    return SolveResult(
        policy=pol[0] if single else pol,
        values=val[0] if single else val,
        q_values=qv[0] if single else qv,
        n_iterations=k,
        converged=False,
        message=message,
        history=_stack_history(rows, single),
        params=params,
    )


def staq_policy_mirror_descent(
    mdp: TabularMDP, *, memory: int, eta: Any = 1.0, tau: float = 0.1, **kwargs: Any
) -> SolveResult:
    """StaQ-style finite-memory entropy + KL PMD: :func:`generalized_policy_mirror_descent`
    with ``regularizer="entropy"`` and ``memory=M`` (see the module docstring)."""
    return generalized_policy_mirror_descent(
        mdp, eta=eta, tau=tau, regularizer="entropy", memory=memory, **kwargs
    )

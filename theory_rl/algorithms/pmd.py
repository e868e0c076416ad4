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
:math:`\alpha = \eta/(1+\eta\tau)`; StaQ keeps the last ``M`` terms,
:math:`\xi^{k+1} = \alpha\sum_{i=k-M+1}^{k}\beta^{k-i}q^i_\tau`.  This is computed by the
recursion

.. math::  \xi^{k+1} = \beta\big(\xi^k - \alpha\beta^{M-1}q^{k-M}_\tau\big) + \alpha q^k_\tau

(the term of :math:`q^{k-M}` leaves the window; nothing leaves while :math:`k < M`), i.e. the
entropy GPMD step applied to the centre :math:`\xi^k - \alpha\beta^{M-1}q^{k-M}_\tau`; each
iteration costs the same whatever ``M``.  [D] The truncated weights sum to
:math:`\alpha(1-\beta^M)/(1-\beta) = (1-\beta^M)/\tau`, so a limit of the iterates satisfies
:math:`\pi = \mathrm{softmax}(Q^\pi_\tau/\tau_M)` with :math:`\tau_M = \tau/(1-\beta^M)`
(the regularised ``Q`` at temperature ``tau`` but a greedy step at ``tau_M``); its distance to
the regularised optimum vanishes as :math:`\beta^M \to 0`.

**One prox.**  The entropy steps are the regularised KL prox
:func:`theory_rl.algorithms.mirror.regularized_prox_log` with uniform :math:`\mu`: GPMD with
entropy is it with the same ``(eta, tau)`` (the surrogate :math:`\xi = \log\pi` up to a
per-state constant, :math:`\log\pi^{k+1} = (\log\pi^k + \eta q^k_\tau)/(1+\eta\tau) - \log Z`),
and StaQ is it applied to the centre above.

**Drivers** run on :func:`theory_rl.algorithms._loop.iterate`: ``n_iterations`` is a fixed
budget ``K`` (history entries ``k = 0..K``), ``tol > 0`` stops once the driver's stopping
metric (``sup_gap`` for PMD, ``q_error`` for GPMD/StaQ) is ``<= tol`` for every run, and
``converged`` is True only then.  Metrics are those of :mod:`theory_rl.algorithms.metrics`
against one :class:`~theory_rl.algorithms.exact.Reference` (``reference=``, computed by the
driver when omitted); exact evaluation is
:class:`~theory_rl.algorithms.exact.ExactEvaluator`.

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

from theory_rl._checks import as_int, as_positive, as_positive_array
from theory_rl.algorithms import sampling as _sampling
from theory_rl.algorithms._loop import Method, check_record, iterate
from theory_rl.algorithms.exact import ExactEvaluator, Reference
from theory_rl.algorithms.exact import reference as exact_reference
from theory_rl.algorithms.metrics import POLICY_METRICS, policy_metrics
from theory_rl.algorithms.mirror import (
    LOG_FLOOR,
    REGULARIZERS,
    euclidean_prox,
    kl_prox,
    kl_prox_log,
    regularized_prox_log,
    regularizer_argmin,
    regularizer_gradient,
    regularizer_value,
)
from theory_rl.backend import namespace_of
from theory_rl.backend import to_numpy as _np
from theory_rl.mdps.tabular import TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "GPMD_METRICS",
    "GPMD_RECORD",
    "MIRRORS",
    "PMD_METRICS",
    "RECORD",
    "REGULARIZERS",
    "SCHEDULES",
    "adaptive_step_size",
    "generalized_policy_mirror_descent",
    "gpmd_step",
    "pmd_step",
    "policy_mirror_descent",
    "staq_policy_mirror_descent",
]

MIRRORS = ("kl", "euclidean")
SCHEDULES = ("constant", "geometric", "adaptive")
Q_ERROR_MODELS = ("uniform", "adversarial", "fixed")
#: What :func:`policy_mirror_descent` can record: the policy metrics of
#: :mod:`theory_rl.algorithms.metrics`, ``"samples"`` and ``"eta"``.
PMD_METRICS = (*POLICY_METRICS, "samples", "eta")
#: Its default ``record``.
RECORD = ("gap", "sup_gap", "kl_to_opt", "divergence_to_opt", "samples", "eta")
#: What :func:`generalized_policy_mirror_descent` can record (regularised values).
GPMD_METRICS = POLICY_METRICS
#: Its default ``record``.
GPMD_RECORD = ("q_error", "gap", "max_kl_to_opt")
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
    """``q - max_a q`` per row ``(..., A)``: the simplex projection is invariant to per-row
    shifts, and with scores ``<= 0`` a huge step cannot make ``pi + eta q`` lose the ``O(1)``
    entries to cancellation (``(u - 1) == u`` for ``u = 1e20``)."""
    xp = namespace_of(q)
    return q - xp.max(q, axis=-1, keepdims=True)


def gpmd_step(
    xi: Any, q: Any, *, eta: Any, tau: float, regularizer: str = "entropy"
) -> tuple[Any, Any]:
    r"""One GPMD step: :math:`\xi' = (\xi + \eta q_\tau)/(1+\eta\tau)`,
    :math:`\pi' = \arg\min_p h(p) - \langle\xi', p\rangle`.

    Args:
        xi: ``(..., S, A)`` surrogate (e.g. ``log pi`` for entropy, ``pi`` for Tsallis,
            ``-1/pi`` for the log-barrier).
        q: ``(..., S, A)`` regularised action values :math:`Q_\tau^{\pi}`.
        eta: step size ``> 0`` (scalar or broadcastable against ``xi[..., :1]``).
        tau: regularisation weight ``> 0``.
        regularizer: ``"entropy"``, ``"tsallis"`` or ``"log_barrier"``.

    Returns:
        ``(policy, xi_next)``.  With entropy the step is the regularised KL prox
        :func:`~theory_rl.algorithms.mirror.regularized_prox_log` with the same
        ``(eta, tau)`` and uniform reference,
        :math:`\pi' \propto \pi^{1/(1+\eta\tau)} e^{\eta q/(1+\eta\tau)}`, and ``xi_next`` is
        :math:`\log\pi'` (the surrogate up to a per-state constant).
    """
    xp = namespace_of(xi)
    if regularizer == "entropy":
        xi_next = regularized_prox_log(xi, q, eta=eta, tau=tau)
        return xp.exp(xi_next), xi_next
    xi_next = (xi + eta * q) / (1.0 + eta * tau)
    return regularizer_argmin(xi_next, regularizer), xi_next


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
    greedy = q >= xp.max(q, axis=-1, keepdims=True)  # exact ties form the greedy set
    if mirror == "kl":
        mass = xp.sum(xp.where(greedy, policy, 0.0), axis=-1)
        with np.errstate(divide="ignore"):
            d = -xp.log(xp.minimum(mass, 1.0))
    else:
        _check_mirror(mirror)
        first = xp.argmax(q, axis=-1)[..., None]
        vertex = xp.astype(xp.arange(q.shape[-1]) == first, xp.float64)
        d = 0.5 * xp.sum((vertex - policy) ** 2, axis=-1)
    return xp.max(d, axis=-1) / c


# --------------------------------------------------------------------------------------------
# argument handling shared by the drivers (also used by theory_rl.algorithms.pg)
# --------------------------------------------------------------------------------------------
def _batch_size(n_eta: int, n_mdp: int) -> int:
    if n_eta != 1 and n_mdp != 1 and n_eta != n_mdp:
        raise ValueError(f"eta has {n_eta} entries but {n_mdp} MDPs were given; they must match")
    return max(n_eta, n_mdp)


def _initial(evaluator: ExactEvaluator, initial_policy: Any, B: int) -> np.ndarray:
    """``(B, S, A)`` start policies: uniform, or ``initial_policy`` ``(S, A)`` broadcast."""
    S, A = evaluator.S, evaluator.A
    if initial_policy is None:
        return np.full((B, S, A), 1.0 / A)
    pi = validate_policy(_np(initial_policy), S, A, name="initial_policy")
    return np.array(np.broadcast_to(pi, (B, S, A)))


def _exact_reference(
    evaluator: ExactEvaluator,
    reference: Reference | None,
    *,
    tau: float = 0.0,
    regularizer: str | None = None,
) -> Reference:
    """The batched :class:`Reference` of the evaluator's MDPs and ``rho``: ``reference``
    checked against them, or computed."""
    if reference is None:
        return exact_reference(
            evaluator.mdps, tau=tau, regularizer=regularizer, rho=evaluator.rho_np
        )
    if not isinstance(reference, Reference):
        raise ValueError(
            f"reference must be a theory_rl.algorithms.exact.Reference, "
            f"got {type(reference).__name__}"
        )
    return reference.check(evaluator, tau=tau, regularizer=regularizer)


def _log(xp: Any, pi: Any) -> Any:
    """``log pi`` floored at ``LOG_FLOOR`` (zero probabilities stay finite)."""
    with np.errstate(divide="ignore"):
        return xp.maximum(xp.log(pi), LOG_FLOOR)


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
    reference: Reference | None = None,
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
        n_iterations: PMD updates ``K`` (fixed budget); the history has ``K + 1`` entries.
        tol: stop early once every run has ``sup_gap <= tol`` (``0``: never); only then is
            ``converged`` True.
        initial_policy: ``(S, A)``; uniform if omitted (Xiao's theorems need it interior).
        rho: ``(S,)`` performance measure of ``gap`` and ``d*``; ``mdp.initial_distribution``
            if omitted.
        q_error: ``b >= 0``: perturb :math:`q^k` with :math:`\|\hat q - q\|_\infty \le b`.
        q_error_model: ``"uniform"``, ``"adversarial"`` or ``"fixed"`` (module docstring).
        q_estimator: ``None`` (exact), ``"rollout"`` or ``"generative"``
            (:func:`theory_rl.algorithms.sampling.estimate_q` with ``n_rollouts`` and
            ``horizon``).
        record: history keys among :data:`PMD_METRICS`: the metrics of
            :mod:`theory_rl.algorithms.metrics` (``"gap"`` :math:`V^*(\rho) - V^k(\rho)`,
            ``"sup_gap"``, ``"kl_to_opt"`` :math:`\mathbb E_{d_\rho^{\pi^*}}
            KL(\pi^*_s\|\pi^k_s)`, ``"divergence_to_opt"`` the same in the run's mirror map
            (Xiao's :math:`D^*_k`), ...), ``"samples"`` (cumulative transitions drawn to
            produce iterate ``k``) and ``"eta"`` (the step of the update from iterate ``k``;
            NaN at ``k = n_iterations``).
        callback: ``callback(intermediate)`` after each evaluation; ``StopIteration`` stops.
        seed: seeds the perturbations and the samplers (one Generator; for every ``k`` the
            samplers draw for runs ``b = 0..B-1`` in turn, then the perturbation is drawn).
        device: ``"cpu"``, ``"gpu"`` or None.
        reference: the unregularised :func:`~theory_rl.algorithms.exact.reference` of
            ``mdp`` and ``rho`` if already computed (checked; same numbers as omitting it).

    Returns:
        :class:`SolveResult` with ``policy`` ``(S, A)`` (``(B, S, A)`` for a batch), ``values``
        and ``q_values`` of the last policy, history arrays ``(K+1,)`` or ``(B, K+1)``.
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
    q_error = as_positive("q_error", q_error, allow_zero=True)
    c0 = as_positive("c0", c0)
    tol = as_positive("tol", tol, allow_zero=True)
    K = as_int("n_iterations", n_iterations, minimum=0)
    record = check_record(record, PMD_METRICS)
    etas = np.atleast_1d(as_positive_array("eta", eta, allow_zero=schedule == "adaptive"))
    ev = ExactEvaluator(mdp, device, rho)
    xp, S, A = ev.xp, ev.S, ev.A
    n_mdps = len(ev.mdps)
    B = _batch_size(etas.size, n_mdps)
    single = ev.single and np.ndim(_np(eta)) == 0
    ref = _exact_reference(ev, reference)
    dref = ref.on(xp)
    pi_star_np = ref.policy  # (Bm, S, A): the target of the "fixed" error model
    gamma = np.broadcast_to(ev.gamma_np, (B,))
    eta0 = xp.asarray(np.broadcast_to(etas, (B,)))[:, None, None]
    pi0 = xp.asarray(_initial(ev, initial_policy, B))
    keep = (lambda a: a[0]) if single else (lambda a: a)

    def init(rng: np.random.Generator) -> dict[str, Any]:
        v, q = ev.evaluate(pi0)
        return dict(
            pi=pi0,
            log_pi=_log(xp, pi0),
            v=v,
            q=q,
            k=0,
            rng=rng,
            step=None,
            samples=np.zeros(B, dtype=np.int64),
        )

    def step(state: dict[str, Any]) -> tuple[Any, Any, np.ndarray]:
        """``(q_used, eta_k (B, 1, 1), samples drawn (B,))`` of the update from ``state``;
        computed once (the ``"eta"`` metric may ask before ``update`` does), so the random
        stream is consumed in the same order whether ``"eta"`` is recorded or not."""
        if state["step"] is None:
            k, pi, rng = state["k"], state["pi"], state["rng"]
            drawn = np.zeros(B, dtype=np.int64)
            if q_estimator is not None:
                pol_np = _np(pi)
                q_np = np.empty((B, S, A))
                for b in range(B):
                    q_np[b], drawn[b] = _sampling.estimate_q(
                        ev.mdps[b % n_mdps],
                        pol_np[b],
                        n_rollouts=n_rollouts,
                        horizon=horizon,
                        seed=rng,
                        method=q_estimator,
                    )
                q_used = xp.asarray(q_np)
            else:
                q_used = state["q"]
            if q_error > 0:
                q_used = q_used + xp.asarray(
                    _perturbation(q_error_model, q_error, _np(q_used), pi_star_np, rng)
                )
            if schedule == "constant":
                eta_k = eta0
            elif schedule == "geometric":
                eta_k = eta0 / xp.asarray(gamma**k)[:, None, None]
            else:
                c_k = xp.asarray(c0 * gamma ** (2 * (k + 1)))
                adaptive = adaptive_step_size(pi, q_used, c=c_k, mirror=mirror)
                eta_k = xp.maximum(eta0[:, 0, 0], adaptive)[:, None, None]
            state["step"] = (q_used, eta_k, drawn)
        return state["step"]

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        q_used, eta_k, drawn = step(state)
        if mirror == "kl":
            log_pi = kl_prox_log(state["log_pi"], q_used, eta_k)
            pi = xp.exp(log_pi)
        else:
            pi = euclidean_prox(state["pi"], _shifted(q_used), eta_k)
            log_pi = _log(xp, pi)
        v, q = ev.evaluate(pi)
        return dict(
            pi=pi,
            log_pi=log_pi,
            v=v,
            q=q,
            k=k + 1,
            rng=state["rng"],
            step=None,
            samples=state["samples"] + drawn,
        )

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out = policy_metrics(
            keys,
            reference=dref,
            log_pi=state["log_pi"],
            v=state["v"],
            q=state["q"],
            rho=ev.rho,
            mirror=mirror,
        )
        if "samples" in keys:
            out["samples"] = state["samples"].copy()
        if "eta" in keys:
            out["eta"] = np.full(B, np.nan) if state["k"] == K else step(state)[1][:, 0, 0]
        return {key: keep(val) for key, val in out.items()}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        return tuple(keep(_np(state[key])) for key in ("pi", "v", "q"))

    method = Method(
        name="policy_mirror_descent",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=PMD_METRICS,
        stop_metric="sup_gap",
        batch_shape=() if single else (B,),
    )
    params = dict(
        eta=etas if etas.size > 1 else float(etas[0]),
        mirror=mirror,
        schedule=schedule,
        c0=c0,
        q_error=q_error,
        q_error_model=q_error_model,
        q_estimator=q_estimator,
        n_rollouts=n_rollouts,
        horizon=horizon,
        device=ev.device,
    )
    return iterate(
        method, n_iterations=K, tol=tol, record=record, callback=callback, seed=seed, params=params
    )


def _perturbation(
    model: str, b: float, q: np.ndarray, pi_star: np.ndarray, rng: np.random.Generator
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
def generalized_policy_mirror_descent(
    mdp: TabularMDP | Sequence[TabularMDP],
    *,
    eta: Any = 1.0,
    tau: float = 0.1,
    regularizer: str = "entropy",
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    memory: int | None = None,
    rho: Any = None,
    record: Sequence[str] = GPMD_RECORD,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""GPMD (Zhan et al. 2023) for :math:`V_\tau^\pi`; with ``memory=M`` (entropy only) StaQ.

    Args:
        mdp: a :class:`TabularMDP`, or a sequence of ``B`` MDPs with equal ``(S, A)`` (batch).
        eta: step size ``> 0``; a ``(B,)`` array runs a batch.
        tau: regularisation weight ``> 0``.
        regularizer: ``"entropy"``, ``"tsallis"`` or ``"log_barrier"``.
        n_iterations: updates ``K`` (fixed budget; history has ``K + 1`` entries).
        tol: stop early once every run has ``q_error <= tol`` (``0``: never); only then is
            ``converged`` True.
        initial_policy: interior ``(S, A)`` policy; uniform if omitted (StaQ needs uniform).
        memory: ``None`` (full GPMD) or ``M >= 1``: keep only the last ``M`` action-value
            functions in the entropy surrogate (StaQ).
        rho: ``(S,)`` performance measure of ``gap`` and of the reference occupancy;
            ``mdp.initial_distribution`` if omitted.
        record: history keys among :data:`GPMD_METRICS` (regularised values): ``"q_error"``
            :math:`\|Q^*_\tau - Q^k_\tau\|_\infty`, ``"gap"``
            :math:`\rho^\top(V^*_\tau - V^k_\tau)`, ``"max_kl_to_opt"``
            :math:`\max_s KL(\pi^*_{\tau,s}\|\pi^k_s)`, ``"kl_to_opt"`` (occupancy-weighted),
            ...
        callback: as in :func:`policy_mirror_descent`.
        seed: echoed in the result (the method draws no random numbers).
        device: ``"cpu"``, ``"gpu"`` or None.
        reference: ``reference(mdp, tau=tau, regularizer=regularizer, rho=rho)``
            (:mod:`theory_rl.algorithms.exact`) if already computed (checked; same numbers
            as omitting it).

    Returns:
        :class:`SolveResult`; history ``(K+1,)`` or ``(B, K+1)``; ``params["reference_error"]``
        (the reference's certified error, ``(B,)`` for a batch of MDPs).
    """
    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    tau = as_positive("tau", tau)
    tol = as_positive("tol", tol, allow_zero=True)
    K = as_int("n_iterations", n_iterations, minimum=0)
    record = check_record(record, GPMD_METRICS)
    if memory is not None:
        memory = as_int("memory", memory)
        if regularizer != "entropy":
            raise ValueError('memory (StaQ) needs regularizer="entropy"')
        if initial_policy is not None:
            raise ValueError("memory (StaQ) starts from the uniform policy: omit initial_policy")
    etas = np.atleast_1d(as_positive_array("eta", eta))
    ev = ExactEvaluator(mdp, device, rho)
    xp = ev.xp
    B = _batch_size(etas.size, len(ev.mdps))
    single = ev.single and np.ndim(_np(eta)) == 0
    ref = _exact_reference(ev, reference, tau=tau, regularizer=regularizer)
    dref = ref.on(xp)
    pi0 = xp.asarray(_initial(ev, initial_policy, B))
    e = xp.asarray(np.broadcast_to(etas, (B,)))[:, None, None]
    # StaQ: weight alpha beta^(M-1) of the action values that leave the window
    expiring = e / (1.0 + e * tau) ** memory if memory is not None else None
    keep = (lambda a: a[0]) if single else (lambda a: a)

    def evaluate(pi: Any) -> tuple[Any, Any]:
        return ev.evaluate(pi, tau * regularizer_value(pi, regularizer))

    def init(rng: np.random.Generator) -> dict[str, Any]:
        v, q = evaluate(pi0)
        log_pi = _log(xp, pi0)
        xi = log_pi if regularizer == "entropy" else regularizer_gradient(pi0, regularizer)
        return dict(pi=pi0, log_pi=log_pi, xi=xi, v=v, q=q, past=deque(maxlen=memory or 1))

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        if memory is None:
            pi, xi = gpmd_step(state["xi"], state["q"], eta=e, tau=tau, regularizer=regularizer)
            log_pi = xi if regularizer == "entropy" else _log(xp, pi)
        else:
            past = state["past"]
            centre = state["xi"] if len(past) < memory else state["xi"] - expiring * past[0]
            past.append(state["q"])
            xi = log_pi = regularized_prox_log(centre, state["q"], eta=e, tau=tau)
            pi = xp.exp(log_pi)
        v, q = evaluate(pi)
        return dict(pi=pi, log_pi=log_pi, xi=xi, v=v, q=q, past=state["past"])

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out = policy_metrics(
            keys,
            reference=dref,
            log_pi=state["log_pi"],
            v=state["v"],
            q=state["q"],
            rho=ev.rho,
        )
        return {key: keep(val) for key, val in out.items()}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        return tuple(keep(_np(state[key])) for key in ("pi", "v", "q"))

    method = Method(
        name="gpmd" if memory is None else "staq",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=GPMD_METRICS,
        stop_metric="q_error",
        batch_shape=() if single else (B,),
    )
    params = dict(
        eta=etas if etas.size > 1 else float(etas[0]),
        tau=tau,
        regularizer=regularizer,
        memory=memory,
        reference_error=float(ref.error[0]) if ev.single else ref.error,
        device=ev.device,
    )
    return iterate(
        method, n_iterations=K, tol=tol, record=record, callback=callback, seed=seed, params=params
    )


def staq_policy_mirror_descent(
    mdp: TabularMDP | Sequence[TabularMDP],
    *,
    memory: int,
    eta: Any = 1.0,
    tau: float = 0.1,
    n_iterations: int = 100,
    tol: float = 0.0,
    rho: Any = None,
    record: Sequence[str] = GPMD_RECORD,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    """StaQ-style finite-memory entropy + KL PMD: :func:`generalized_policy_mirror_descent`
    with ``regularizer="entropy"`` and ``memory=M`` from the uniform policy (module docstring;
    arguments as there)."""
    return generalized_policy_mirror_descent(
        mdp,
        eta=eta,
        tau=tau,
        regularizer="entropy",
        n_iterations=n_iterations,
        tol=tol,
        memory=memory,
        rho=rho,
        record=record,
        callback=callback,
        seed=seed,
        device=device,
        reference=reference,
    )

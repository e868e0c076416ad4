r"""The optimistic actor-critic with rare switching (a reconstruction of Tan, Fan & Wei, ICML
2025), its hybrid and non-optimistic variants.

.. warning:: **Reconstruction.**  The paper body and code were not available: the algorithm
   below is reconstructed from the abstract (optimism; an off-policy critic that targets
   :math:`Q^*`; an NPG/Hedge actor; rare-switching policy resets; hybrid offline + online data;
   a non-optimistic variant that needs offline coverage) as specified in the project's theory
   notes.  It is *not* the paper's exact pseudo-code, its constants are not the paper's, and
   nothing here claims to reproduce the paper's figures.

Setting: episodic :class:`~theory_rl.mdps.tabular.FiniteHorizonMDP`, horizon ``H``, rewards in
``[0, 1]``, ``T`` episodes; regret measured exactly as in
:mod:`theory_rl.algorithms.exploration`.  For ``t = 1, ..., T``:

* **Critic** (off-policy, all data :math:`D` -- offline episodes included -- Bellman-*optimality*
  backups, so it targets :math:`Q^*`), recomputed only at **switch times**:

  - tabular: optimistic value iteration on the empirical model,
    :math:`f_h = \min(H-h,\ \hat r_h + \hat P_h \max_{a'} f_{h+1} + b_h)` with
    :math:`b_h(s,a) = cH\sqrt{L/N_h(s,a)}`, :math:`L = \log(SAHT/\delta)`, and
    :math:`f_h = H - h` on unvisited pairs
    (:func:`~theory_rl.algorithms.exploration.optimistic_q_values` with ``bonus="count"``);
    switch when some :math:`N_h(s,a)` reaches a power of two;
  - linear: LSVI-UCB's ridge regression with the elliptical bonus
    :math:`\beta\|\phi\|_{\Lambda_h^{-1}}`, :math:`\beta = c\,dH\sqrt{\log(2dHT/\delta)}`
    (:func:`~theory_rl.algorithms.exploration.lsvi_q_values`); switch when some
    :math:`\det\Lambda_h` has doubled since the last switch.

* **Actor** (NPG / Hedge on the critic, :func:`hedge_step`), restarted at the uniform policy
  at every switch: :math:`\pi^{t}_h(\cdot|s) \propto \pi^{t-1}_h(\cdot|s)\exp(\eta f^{t}_h(s,
  \cdot))`, i.e. after ``k`` episodes since the last switch
  :math:`\pi_h \propto \exp(k\eta f_h)`.  Step size :math:`\eta = \sqrt{8M\log|A|/(H^2T)}`
  with ``M`` the switch bound plus one (:func:`theory_rl.bounds.tan2025.hedge_step_size`,
  derived there; the notes' :math:`\sqrt{\log|A|/(H^2T)}` up to the switch count).
* **Data**: play :math:`\pi^t`; append the episode to :math:`D`.

**Variants.**  Hybrid: ``offline=`` episodes (e.g. from
:func:`~theory_rl.algorithms.exploration.sample_episodes` of a behaviour policy) seed
:math:`D` and the counts.  Non-optimistic: ``bonus_scale = 0`` (no bonus; unvisited pairs get
critic value 0).

**Guarantees (reconstructed forms).**  The abstract states
:math:`O(dH^5\log|A|/\varepsilon^2 + dH^4\log|F|/\varepsilon^2)` trajectories and
:math:`\sqrt T` regret for the optimistic algorithm, and :math:`N_\text{off} \ge
c^*_\text{off}dH^4/\varepsilon^2` offline trajectories for the non-optimistic one [V]; the
switch counts :math:`SAH(\lfloor\log_2 T\rfloor+1)` and :math:`H d\log_2(1+T/(d\lambda))` hold on
every run by construction [D] (:mod:`theory_rl.bounds.tan2025`).  The claims measure the regret
exponent and these invariants; they do not check the paper's constants.

References:
    K. Tan, W. Fan, Y. Wei. Actor-critics can achieve optimal sample efficiency. ICML 2025,
    PMLR 267:58545-58590, arXiv:2505.03710.
    T. Xie, D. Foster, Y. Bai, N. Jiang, S. Kakade. The role of coverage in online
    reinforcement learning (GOLF). ICLR 2023, arXiv:2210.04157.
    C. Jin, Z. Yang, Z. Wang, M. I. Jordan. Provably efficient reinforcement learning with
    linear function approximation. COLT 2020, arXiv:1907.05388.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_positive
from theory_rl.algorithms.exploration import (
    EPISODIC_RECORD_KEYS,
    Callback,
    _check_episodic,
    _confidence,
    _Episodic,
    _linear_problem,
    _lsvi_beta,
    _run_episodic,
    _run_settings,
)
from theory_rl.algorithms.mirror import kl_prox_log
from theory_rl.bounds.tan2025 import hedge_step_size, linear_switch_bound, tabular_switch_bound
from theory_rl.kernels import episodic as _ke
from theory_rl.mdps.linear import LinearMDP
from theory_rl.mdps.tabular import FiniteHorizonMDP
from theory_rl.result import SolveResult

__all__ = [
    "EPISODIC_RECORD_KEYS",
    "count_switch",
    "det_switch",
    "hedge_step",
    "optimistic_actor_critic",
]


def hedge_step(log_policy: Any, critic: Any, *, eta: float) -> Any:
    r"""The actor's update :math:`\log\pi' = \log\pi + \eta f - \log\sum_a \pi e^{\eta f}`
    (NPG/Hedge; :func:`~theory_rl.algorithms.mirror.kl_prox_log`), over the last axis.

    Example:
        >>> import numpy as np
        >>> np.exp(hedge_step(np.log([0.5, 0.5]), np.array([0.0, np.log(3.0)]), eta=1.0))
        array([0.25, 0.75])
    """
    return kl_prox_log(log_policy, critic, eta)


def count_switch(counts_before: Any, counts_after: Any) -> bool:
    """The tabular trigger: some count went from below to at least a power of two (with at
    most one visit per (h, s, a) per episode: some count *reached* a power of two)."""
    before = np.asarray(counts_before, dtype=np.int64)
    after = np.asarray(counts_after, dtype=np.int64)
    grew = after > before
    # next power of two above `before` is reached
    nxt = np.where(before > 0, 2 ** np.floor(np.log2(np.maximum(before, 1)) + 1), 1)
    return bool(np.any(grew & (after >= nxt)))


def det_switch(logdet: Any, logdet_at_switch: Any) -> bool:
    r"""The linear trigger: some :math:`\det\Lambda_h` at least doubled since the last switch."""
    return bool(np.any(np.asarray(logdet) - np.asarray(logdet_at_switch) >= math.log(2.0)))


def optimistic_actor_critic(
    mdp: FiniteHorizonMDP | LinearMDP,
    *,
    horizon: int | None = None,
    features: Any = None,
    bonus_scale: float = 1.0,
    eta: float | None = None,
    delta: float = 0.1,
    lam: float = 1.0,
    offline: tuple[Any, Any, Any] | None = None,
    episodes_per_iteration: int = 64,
    n_seeds: int | None = None,
    n_iterations: int = 16,
    tol: float = 0.0,
    record: Sequence[str] = ("regret", "samples", "switches"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
) -> SolveResult:
    r"""The optimistic actor-critic with rare switching (module docstring; a reconstruction).

    Args:
        mdp: a :class:`FiniteHorizonMDP` (tabular critic; or linear with ``features``) or a
            :class:`LinearMDP` with ``horizon`` (linear critic on its features).
        horizon: episode length for a :class:`LinearMDP`.
        features: ``(S, A, d)`` features for the linear critic.
        bonus_scale: ``c >= 0`` of the bonus; ``0`` is the non-optimistic variant.
        eta: actor step ``> 0``; default :func:`~theory_rl.bounds.tan2025.hedge_step_size`
            with ``M`` = the switch bound + 1.
        delta: confidence in ``(0, 1)`` of the log terms.
        lam: ridge ``lambda > 0`` (linear critic).
        offline: ``(states (n, H+1), actions (n, H), rewards (n, H))`` episodes seeding the data
            (the hybrid variant), or None.
        episodes_per_iteration, n_seeds, n_iterations, tol, record, callback, seed, device,
            reference: as :func:`~theory_rl.algorithms.exploration.ucbvi`.

    Returns:
        :class:`SolveResult`: ``policy`` the last played actor policy ``([B,] H, S, A)``,
        ``values`` its exact values, ``q_values`` the critic; ``history`` from
        :data:`~theory_rl.algorithms.exploration.EPISODIC_RECORD_KEYS` (``switches``: critic
        recomputations after the first); ``params`` echo ``eta``, the bonus and
        ``switch_bound``.

    Example:
        >>> from theory_rl.mdps.combination_lock import episodic_combination_lock
        >>> res = optimistic_actor_critic(episodic_combination_lock(2, 2, seed=0),
        ...                               bonus_scale=0.1, episodes_per_iteration=8,
        ...                               n_iterations=4, seed=0)
        >>> int(res.history["switches"][-1]) <= res.params["switch_bound"]
        True
    """
    linear = isinstance(mdp, LinearMDP) or features is not None
    if linear:
        ep, phi = _linear_problem(mdp, features, horizon)
    else:
        if not isinstance(mdp, FiniteHorizonMDP):
            raise ValueError(
                f"mdp must be a FiniteHorizonMDP or a LinearMDP, got {type(mdp).__name__}"
            )
        ep = _check_episodic(mdp)
        if horizon is not None and horizon != ep.horizon:
            raise ValueError(f"horizon = {horizon!r} differs from mdp.horizon = {ep.horizon}")
        phi = None
    c, delta, T = _confidence(bonus_scale, delta, n_iterations, episodes_per_iteration)
    lam = as_positive("lam", lam)
    H, S, A = ep.horizon, ep.n_states, ep.n_actions
    n_off = 0 if offline is None else int(np.shape(np.asarray(offline[1]))[0])
    if linear:
        d = phi.shape[2]
        norm = float(np.sqrt((phi**2).sum(axis=-1)).max())
        bound = linear_switch_bound(
            d, H, T, lam=lam, feature_norm=max(norm, 1e-300), n_offline=n_off
        )
    else:
        bound = tabular_switch_bound(S, A, H, T, n_off)
    eta = hedge_step_size(A, H, T, bound + 1) if eta is None else as_positive("eta", eta)
    if linear:
        beta = _lsvi_beta(c, d, H, T, delta)
        spec = _Episodic(
            "optimistic_actor_critic",
            ep,
            _ke.MODE_ACTOR_CRITIC,
            "linear",
            beta=beta,
            eta=eta,
            features=phi,
            lam=lam,
            offline=offline,
        )
        extra = dict(critic="linear", beta=beta, lam=lam, dim=d)
    else:
        L = math.log(S * A * H * T / delta)
        spec = _Episodic(
            "optimistic_actor_critic",
            ep,
            _ke.MODE_ACTOR_CRITIC,
            "tabular",
            bonus_kind=_ke.BONUS_COUNT,
            bonus_scale=c,
            log_term=L,
            eta=eta,
            offline=offline,
        )
        extra = dict(critic="tabular", log_term=L)
    return _run_episodic(
        spec,
        **_run_settings(locals()),
        params=dict(
            bonus_scale=c, eta=eta, delta=delta, switch_bound=bound, optimistic=c > 0, **extra
        ),
    )

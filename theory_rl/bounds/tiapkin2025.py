r"""Nash Mirror Prox guarantees (Tiapkin et al. 2025, arXiv:2505.19731 **v1**), derived here.

Game and notation as in :mod:`theory_rl.mdps.games` and :mod:`theory_rl.algorithms.nash`: per
context, :math:`q(\pi) = P\pi`, reference :math:`\pi_{\mathrm{ref}}`, regulariser
:math:`\beta > 0`, equilibrium :math:`\pi^* = \pi^*_\beta`, step :math:`\eta`, ``N`` preference
queries (two per Nash-MP iteration).

**What is verified against the paper.**  Only the v1 abstract was read (the body, theorem
numbers and constants were not; the id's current version is a different paper): Nash-MP
converges linearly in the last iterate, in KL to the regularised equilibrium, at rate
:math:`(1+2\beta)^{-N/2}`, independent of the number of responses; the exploitability gap and
the span semi-norm of log-policies also converge linearly.  The constants below are therefore
*derived* (standard Mirror-Prox analysis), not quoted; the claim modules test the derived form.

**Derivation of the KL bound** (:func:`kl_bound`).  Write the game as the monotone variational
inequality with operator :math:`g(\pi) = -q(\pi)` and composite term :math:`\beta h`,
:math:`h = \mathrm{KL}(\cdot\|\pi_{\mathrm{ref}})` (whose Bregman divergence is KL itself).

1. *Lipschitz constant.*  :math:`\|g(\pi) - g(\pi')\|_\infty = \|(P - \tfrac12 11^\top)
   (\pi-\pi')\|_\infty \le \max|P - \tfrac12|\,\|\pi - \pi'\|_1 \le \tfrac12\|\pi-\pi'\|_1`
   (because :math:`1^\top(\pi-\pi') = 0`).  So ``L = 1/2`` from :math:`\ell_1` to
   :math:`\ell_\infty`, and KL is 1-strongly convex w.r.t. :math:`\ell_1` (Pinsker).
2. *Monotonicity.*  :math:`\langle g(\pi) - g(\pi'), \pi - \pi'\rangle =
   -(\pi-\pi')^\top(P - \tfrac12 11^\top)(\pi-\pi') = 0` (skew-symmetric).
3. *Three-point inequality* of the composite KL prox (for any ``u``):
   :math:`\eta\langle g, x^+ - u\rangle + \eta\beta(h(x^+) - h(u)) \le \mathrm{KL}(u\|x) -
   (1+\eta\beta)\mathrm{KL}(u\|x^+) - \mathrm{KL}(x^+\|x)`.  Apply it to the update step with
   ``u = pi*`` and to the extrapolation step with ``u = pi_{k+1}``, and add.  The left side
   becomes :math:`\eta[\langle g(\pi_{k+1/2}), \pi_{k+1/2} - \pi^*\rangle +
   \beta h(\pi_{k+1/2}) - \beta h(\pi^*)] \ge 0` (by 2. and the equilibrium's variational
   inequality) plus the cross term :math:`\eta\langle g(\pi_{k+1/2}) - g(\pi_k),
   \pi_{k+1} - \pi_{k+1/2}\rangle \ge -\eta L(\mathrm{KL}(\pi_{k+1/2}\|\pi_k) +
   \mathrm{KL}(\pi_{k+1}\|\pi_{k+1/2}))` (1., Young, Pinsker), which the negative terms absorb
   when :math:`\eta L \le 1`.
4. Hence, for :math:`\eta \le 2`: :math:`\mathrm{KL}(\pi^*\|\pi_{k+1}) \le
   \mathrm{KL}(\pi^*\|\pi_k)/(1+\eta\beta)`, and after ``k`` iterations (``N = 2k`` queries)

   .. math::  \mathrm{KL}(\pi^*_\beta\|\pi_k)
              \le (1+\eta\beta)^{-k}\,\mathrm{KL}(\pi^*_\beta\|\pi_0)
              \overset{\eta=2}{=} (1+2\beta)^{-N/2}\,\mathrm{KL}_0 .

   Context-averaged KL obeys the same bound (it holds per context).  No constant depends on
   ``Y``.  Assumptions: :math:`\beta > 0`, :math:`\pi_0` with full support, exact queries.

**Exploitability** (:func:`gap_rate`).  :math:`\mathrm{Gap}_\beta` is smooth with minimum 0 at
the interior point :math:`\pi^*`, so near it :math:`\mathrm{Gap}_\beta(\pi) \le
C\,\mathrm{KL}(\pi^*\|\pi)(1 + o(1))` with :math:`C \le \beta + 1/(4\beta)` (its Hessian
:math:`P^\top(\mathrm{diag}\,w - ww^\top)P/\beta + \beta\,\mathrm{diag}(1/\pi^*)` against the
KL Hessian :math:`\mathrm{diag}(1/\pi^*)`); this matches the :math:`O((1+2\beta)^{-N/2}/\beta)`
gap rate quoted by third-party summaries [U].  What is checked is the derived asymptotic rate:
the exploitability decays geometrically at least as fast as :math:`(1+2\beta)^{-1/2}` per query.

References:
    D. Tiapkin, D. Calandriello, D. Belomestny, E. Moulines, A. Naumov, K. Rasul, M. Valko,
    P. Ménard. Accelerating Nash learning from human feedback via Mirror Prox.
    arXiv:2505.19731 v1 (May 2025).
    A. Nemirovski. Prox-method with rate of convergence O(1/t) for variational inequalities
    with Lipschitz continuous monotone operators. SIAM J. Optim. 15(1), 2004.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["LIPSCHITZ", "gap_rate", "kl_bound", "max_step_size", "queries_to_reach"]

#: l1 -> l_inf Lipschitz constant of pi -> P(. > pi) on the simplex (any preference matrix).
LIPSCHITZ = 0.5


def max_step_size(preferences: Any = None) -> float:
    """The largest step size the derivation allows, ``1/L``: 2 in general, or
    ``1 / max|P - 1/2|`` for a given ``(..., Y, Y)`` preference array."""
    if preferences is None:
        return 1.0 / LIPSCHITZ
    return 1.0 / float(np.abs(np.asarray(preferences) - 0.5).max())


def kl_bound(kl0: Any, beta: float, queries: Any, *, eta: float = 2.0) -> np.ndarray:
    r""":math:`(1+\eta\beta)^{-N/2}\,\mathrm{KL}_0`, the Nash-MP bound after ``N`` queries
    (``N/2`` iterations), valid for ``0 < eta <= 2``.

    Example:
        >>> float(kl_bound(1.0, 0.5, 4))
        0.25
    """
    if not 0 < eta <= 1.0 / LIPSCHITZ:
        raise ValueError(f"eta must be in (0, 2] for the bound to hold, got {eta}")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    N = np.asarray(queries, dtype=np.float64)
    return np.asarray(kl0, dtype=np.float64) * np.exp(-0.5 * N * math.log1p(eta * beta))


def gap_rate(beta: float, *, eta: float = 2.0) -> float:
    r"""The per-query geometric rate :math:`(1+\eta\beta)^{-1/2}` of KL and (asymptotically)
    exploitability."""
    return math.exp(-0.5 * math.log1p(eta * beta))


def queries_to_reach(epsilon: float, kl0: float, beta: float, *, eta: float = 2.0) -> int:
    r"""Queries after which the bound guarantees :math:`\mathrm{KL} \le \epsilon`:
    the smallest even ``N`` with :math:`(1+\eta\beta)^{-N/2}\mathrm{KL}_0 \le \epsilon`,
    i.e. ``2 ceil(log(KL0/eps)/log(1 + eta beta))``.  At a tie (the ratio an integer) that
    closed form and :func:`kl_bound` can round differently by one ulp; the count is moved by
    one iteration until it is the smallest with the computed :func:`kl_bound` ``<= epsilon``."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0 (no finite N guarantees KL <= {epsilon})")
    if kl0 <= epsilon:
        return 0
    k = math.ceil(math.log(kl0 / epsilon) / math.log1p(eta * beta))

    def bound(n_iter: int) -> float:
        return float(kl_bound(kl0, beta, 2 * n_iter, eta=eta))

    while bound(k) > epsilon:
        k += 1
    while k > 1 and bound(k - 1) <= epsilon:
        k -= 1
    return 2 * k

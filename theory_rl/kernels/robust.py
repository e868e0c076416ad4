r"""Numba kernels of the robust inner problems, per row of CSR (or dense) transitions.

Private: :mod:`theory_rl.algorithms.robust` coerces the inputs (``indptr`` uint64, ``indices``
uint32, ``data``/``radius``/``r``/``v`` float64, ``actions`` int64) so that each kernel compiles
one signature.  The rules, for a nominal row ``pb`` (the stored entries of the row: its
support) and next-state values ``y = v[indices]`` (module docstring of
:mod:`theory_rl.algorithms.robust` for the derivations):

* ``KIND_L1``: sort ``y``; add ``eps = min(kappa/2, 1 - pb[argmin])`` at the argmin; remove
  ``eps`` greedily from the largest ``y`` (O(b log b)).
* ``KIND_KL``: the dual :math:`\max_\lambda -\lambda\log\mathbb E e^{-w/\lambda} - \lambda\delta`
  with ``w = y - min y``, solved on ``beta = 1/lambda`` where
  :math:`\mathrm{KL}(q_\beta\|\bar p) = \delta`, :math:`q_\beta \propto \bar p e^{-\beta w}`
  (safeguarded Newton, :math:`d\,\mathrm{KL}/d\beta = \beta\,\mathrm{Var}_{q_\beta}(w)`,
  from the second-order root :math:`\sqrt{2\delta/\mathrm{Var}_{\bar p}(w)}`).
  Accuracy: the value :math:`\approx \mathbb E_{\bar p}y - \sqrt{2\delta}\,\mathrm{sd}_{\bar p}(y)`
  moves by :math:`\epsilon\,\mathrm{sd}/\sqrt{2\delta}` when the KL level moves by
  :math:`\epsilon` (as a relative change :math:`\epsilon` of ``pb``'s normalisation does), so
  float64 inputs determine it to about :math:`\epsilon_{mach}\,\mathrm{sd}/\sqrt{2\delta}`; the
  oracle is within that of 50-digit arithmetic (``tests/test_robust_oracles.py``: 7.6e-11 at
  ``delta = 1e-12``, 9e-13 at 1e-8, 4e-15 at 1e-2, relative to ``max |y|``).
* ``KIND_CHI2``: :math:`p \propto \bar p(\eta - y)_+` with
  :math:`(\mathbb E(\eta-y)_+)^2 = \mathbb E[(\eta-y)_+^2]/(1+\rho)`: when
  :math:`\eta = \mu + \sigma/\sqrt\rho \ge \max y` (every entry active) the value is
  :math:`\mu - \sqrt{\rho}\,\sigma` (mean and standard deviation under :math:`\bar p`); otherwise
  solved exactly segment by segment of the sorted ``y`` (a quadratic per segment).
* ``KIND_KL_PENALTY``: :math:`p \propto \bar p e^{-(y - \min y)/\lambda}`.
* ``KIND_TV_PENALTY``: move the mass of every ``y > min y + lambda`` to the argmin.
* ``KIND_CHI2_PENALTY``: :math:`p = \bar p(\alpha - y)_+/(2\lambda)` with
  :math:`\sum\bar p(\alpha - y)_+ = 2\lambda` (exact, per segment).

Each row routine writes the worst distribution into ``p`` and returns
:math:`\sigma = \min_p p\cdot y\,[+\,\lambda D(p, \bar p)]`; ``_csr_sigma`` runs them over
CSR rows (the reference oracle, and the worst distributions on request).

The fused sweeps ``_csr_<set>_sweep`` compute the robust q-values and the maximum over actions
in one pass over the CSR rows, values only, with the same rules in value form: the L1 value
through the CVaR formula (:func:`_l1_row_value`; vectorised across rows when every row is
short, :func:`_csr_l1_block_sweep`), the chi-square ball and penalty through their
closed forms when every entry stays active, the KL ball by Newton warm-started from each row's
multiplier of the previous sweep, vectorised across rows (:func:`_csr_kl_block_sweep`).
``tests/test_robust_sweeps.py`` checks them against ``_csr_sigma``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []

KIND_L1, KIND_KL, KIND_CHI2, KIND_KL_PENALTY, KIND_TV_PENALTY, KIND_CHI2_PENALTY = range(6)
#: Newton/bisection iterations of the KL dual (each halves the bracket at worst).
KL_MAX_ITER = 200


@njit(cache=True, inline="always")
def _sort_ascending(y, order, n):
    """``order[:n]`` = the positions ``0..n-1`` sorted by ``y`` ascending (insertion sort for
    short rows, ``argsort`` beyond 32 entries)."""
    if n > 32:
        o = np.argsort(y[:n], kind="mergesort")
        for i in range(n):
            order[i] = o[i]
        return
    for i in range(n):
        order[i] = i
    for i in range(1, n):
        key = order[i]
        yk = y[key]
        j = i - 1
        while j >= 0 and y[order[j]] > yk:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = key


@njit(cache=True, inline="always")
def _dot(p, y, n):
    acc = 0.0
    for i in range(n):
        acc += p[i] * y[i]
    return acc


@njit(cache=True, inline="always")
def _l1_row(pb, y, n, kappa, order, p):
    """L1 ball: value and worst ``p`` (sorted-greedy rule)."""
    for i in range(n):
        p[i] = pb[i]
    if n == 1 or kappa <= 0.0:
        return _dot(p, y, n)
    _sort_ascending(y, order, n)
    i_min = order[0]
    eps = min(0.5 * kappa, 1.0 - pb[i_min])
    if eps <= 0.0:
        return _dot(p, y, n)
    p[i_min] += eps
    rem = eps
    t = n - 1
    while t >= 1 and rem > 0.0:
        j = order[t]
        take = min(rem, p[j])
        p[j] -= take
        rem -= take
        t -= 1
    return _dot(p, y, n)


#: CSR rows up to this length use the selection form of the L1 rule in sweeps (longer: sorting).
L1_SELECT_MAX = 62


#: Rows up to this length take the pairwise (branch-free, O(b^2)) form of the L1 value in
#: sweeps; longer ones (up to :data:`L1_SELECT_MAX`) select the largest entries one at a time.
L1_PAIRWISE_MAX = 16

#: Rows per block of the sweeps vectorised across rows (:func:`_csr_l1_block_sweep`,
#: :func:`_csr_kl_block_sweep`); a block holds whole states, so at least the number of actions.
BLOCK_ROWS = 128


@njit(cache=True, inline="always")
def _block_rows(actions, n_actions, s0, n_block, rows):
    """The rows of the states ``s0, s0 + 1, ...`` that fit in a block of ``n_block`` rows
    (all actions of a state whose ``actions[s] < 0``, else its action) into ``rows``;
    returns ``(number of rows, first state after the block)``."""
    n_states = actions.shape[0]
    m = 0
    s1 = s0
    while s1 < n_states and m + (1 if actions[s1] >= 0 else n_actions) <= n_block:
        if actions[s1] >= 0:
            rows[m] = s1 * n_actions + actions[s1]
            m += 1
        else:
            for a in range(n_actions):
                rows[m] = s1 * n_actions + a
                m += 1
        s1 += 1
    return m, s1


@njit(cache=True, inline="always")
def _block_reduce(r, gamma, sigma, rows, actions, n_actions, s0, s1, out_v, out_a):
    """``out_v[s] = max_a r + gamma sigma`` over the block's rows of each state ``s0 <= s < s1``
    (rows as :func:`_block_rows` lists them), the maximiser in ``out_a``."""
    k = 0
    for s in range(s0, s1):
        best = -np.inf
        best_a = max(actions[s], 0)
        for _ in range(1 if actions[s] >= 0 else n_actions):
            q = r[rows[k]] + gamma * sigma[k]
            if q > best:
                best = q
                best_a = rows[k] - s * n_actions
            k += 1
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True, inline="always")
def _l1_row_value(indptr, indices, data, v, row, kappa, y, pb):
    r"""L1 ball value of CSR row ``row`` without sorting.

    With ``eps = min(kappa/2, 1 - pb[argmin])`` the sort rule's value is
    ``pb.y + eps min y - top(eps)``, ``top(eps)`` the largest ``p.y`` over ``0 <= p <= pb`` of
    mass ``eps``; by LP duality (the CVaR formula)
    :math:`\mathrm{top}(\epsilon) = \min_t \epsilon t + \sum_i \bar p_i (y_i - t)_+`, a convex
    piecewise-linear function of ``t`` minimised at one of the ``y_j``.  Rows of at most
    :data:`L1_PAIRWISE_MAX` entries evaluate it at every ``y_j`` (``b^2`` subtractions, maxima
    and FMAs, no data-dependent branch: on the garnet ``b = 5`` this measured 1.5x faster than
    selecting the largest entries with conditional moves, and 2x faster than branching on how
    many entries the removal reaches); longer rows select the largest remaining entries one
    at a time (O(b) per selection, :func:`_l1_select_value`, not inlined: its code inside the
    loop slowed the pairwise form 1.5x).  ``y`` and ``pb``: buffers of at least ``n``
    entries.  Same value as :func:`_l1_row`, which sorts, up to
    round-off; callers use it for rows of at most :data:`L1_SELECT_MAX` entries (a call to the
    sorting routine inside this loop, even untaken, slowed it down 2-4x)."""
    k0 = indptr[row]
    n = np.int64(indptr[row + 1] - k0)
    base = 0.0
    ymin = np.inf
    pmin = 0.0
    i_min = 0
    for i in range(n):
        yi = v[indices[k0 + i]]
        pi = data[k0 + i]
        y[i] = yi
        pb[i] = pi
        base += pi * yi
        lower = yi < ymin
        pmin = pi if lower else pmin
        i_min = i if lower else i_min
        ymin = min(yi, ymin)
    # eps = 0 (radius 0, all mass at the argmin, one entry) gives top = 0: the nominal value
    eps = max(min(0.5 * kappa, 1.0 - pmin), 0.0)
    if n > L1_PAIRWISE_MAX:
        return _l1_select_value(data, k0, n, y, np.int64(i_min), eps, base + eps * ymin)
    top = np.inf
    for j in range(n):
        t = y[j]
        acc = eps * t
        for i in range(n):
            acc += pb[i] * max(y[i] - t, 0.0)
        top = min(top, acc)
    return base + eps * ymin - top


@njit(cache=True)
def _l1_select_value(data, k0, n, y, i_min, eps, value):
    """The removal of ``eps`` from the largest entries of a long row other than its argmin
    ``i_min`` (``y[:n]`` its targets, ``value`` = nominal value + ``eps`` min y): the largest
    remaining entry selected one at a time, written with conditional moves."""
    rem = eps
    y[i_min] = -np.inf
    for _ in range(n - 1):
        if rem <= 0.0:
            break
        j = 0
        best = -np.inf
        for i in range(n):
            c = y[i]
            higher = c > best
            best = c if higher else best
            j = i if higher else j
        if best == -np.inf:
            break
        take = min(rem, data[k0 + j])
        value -= take * best
        rem -= take
        y[j] = -np.inf
    return value


@njit(cache=True, inline="always")
def _kl_stats(pb, w, n, beta, q):
    """``q`` ∝ ``pb exp(-beta w)`` (``w >= 0``); returns ``(KL(q||pb), E_q w, Var_q w)``."""
    m = 0.0
    for i in range(n):
        q[i] = pb[i] * np.exp(-beta * w[i])
        m += q[i]
    mean = 0.0
    for i in range(n):
        q[i] /= m
        mean += q[i] * w[i]
    var = 0.0
    for i in range(n):
        var += q[i] * (w[i] - mean) ** 2
    # KL(q || pb) = sum q (-beta w - log m) = -beta E_q w - log m
    return -beta * mean - np.log(m), mean, var


@njit(cache=True, inline="always")
def _kl_row(pb, y, n, delta, w, p):
    """KL ball: value and worst ``p`` through the one-dimensional dual (module docstring)."""
    ymin = np.inf
    for i in range(n):
        ymin = min(ymin, y[i])
    wmax = 0.0
    m0 = 0.0
    for i in range(n):
        w[i] = y[i] - ymin
        wmax = max(wmax, w[i])
        if w[i] == 0.0:
            m0 += pb[i]
    if delta <= 0.0 or wmax == 0.0:
        for i in range(n):
            p[i] = pb[i]
        return _dot(p, y, n)
    if delta >= -np.log(m0):  # large radius: all mass on the argmin set, value min y
        for i in range(n):
            p[i] = pb[i] / m0 if w[i] == 0.0 else 0.0
        return ymin
    # KL(q_beta) increases from 0 (beta = 0) to -log m0 (beta -> inf), with slope
    # beta Var_q(w); start at the second-order root sqrt(2 delta / Var_pb(w)) and run Newton,
    # safeguarded by the bracket [lo, hi] (doubling while no upper end is known)
    mean0 = _dot(pb, w, n)
    var0 = 0.0
    for i in range(n):
        var0 += pb[i] * (w[i] - mean0) ** 2
    beta = np.sqrt(2.0 * delta / var0) if var0 > 0.0 else 1.0 / wmax
    lo, hi = 0.0, np.inf
    for _ in range(KL_MAX_ITER):
        kl, mean, var = _kl_stats(pb, w, n, beta, p)
        f = kl - delta
        if f > 0.0:
            hi = beta
        else:
            lo = beta
        if abs(f) <= 1e-15 * max(1.0, delta) or (hi < np.inf and hi - lo <= 1e-15 * hi):
            return ymin + _dot(p, w, n)
        slope = beta * var
        nxt = beta - f / slope if slope > 0.0 else -1.0
        if lo < nxt < hi:
            beta = nxt
        elif hi == np.inf:
            beta = 2.0 * max(beta, lo)
        else:
            beta = 0.5 * (lo + hi)
    _kl_stats(pb, w, n, beta, p)
    return ymin + _dot(p, w, n)


@njit(cache=True, inline="always")
def _chi2_row(pb, y, n, rho, order, p):
    """Chi-square ball: ``p ∝ pb (eta - y)_+`` with the exact ``eta`` (module docstring)."""
    for i in range(n):
        p[i] = pb[i]
    if rho <= 0.0 or n == 1:
        return _dot(p, y, n)
    # interior case first (no sort): every entry stays active when eta = mu + sigma / sqrt(rho)
    # is at least max y; then p = pb (eta - y) / (eta - mu) and the value is mu - sqrt(rho var)
    mu = _dot(pb, y, n)
    var = 0.0
    ymax = -np.inf
    for i in range(n):
        var += pb[i] * (y[i] - mu) ** 2
        ymax = max(ymax, y[i])
    if var <= 0.0:
        return mu
    sd = np.sqrt(var)
    gap = sd / np.sqrt(rho)  # eta - mu
    if mu + gap >= ymax:
        for i in range(n):
            p[i] = pb[i] * (mu + gap - y[i]) / gap
        return mu - np.sqrt(rho) * sd
    _sort_ascending(y, order, n)
    c = 1.0 / (1.0 + rho)
    ymin = y[order[0]]
    m0 = 0.0
    for i in range(n):
        if y[i] == ymin:
            m0 += pb[i]
    if m0 >= c:  # large radius: value min y
        for i in range(n):
            p[i] = pb[i] / m0 if y[i] == ymin else 0.0
        return ymin
    M, S1, S2 = 0.0, 0.0, 0.0
    eta = np.inf
    for k in range(n):
        j = order[k]
        yj = y[j] - ymin  # shifted by min y for accuracy
        M += pb[j]
        S1 += pb[j] * yj
        S2 += pb[j] * yj * yj
        if k + 1 < n and y[order[k + 1]] == y[j]:
            continue
        if M <= c:
            continue
        var = max(M * S2 - S1 * S1, 0.0)
        cand = S1 / M + np.sqrt(c * var / (M - c)) / M
        right = y[order[k + 1]] - ymin if k + 1 < n else np.inf
        if cand <= right:
            eta = max(cand, yj)
            break
    tot = 0.0
    for i in range(n):
        x = eta - (y[i] - ymin)
        p[i] = pb[i] * x if x > 0.0 else 0.0
        tot += p[i]
    for i in range(n):
        p[i] /= tot
    return _dot(p, y, n)


@njit(cache=True, inline="always")
def _kl_penalty_row(pb, y, n, lam, p):
    ymin = np.inf
    for i in range(n):
        ymin = min(ymin, y[i])
    m = 0.0
    for i in range(n):
        p[i] = pb[i] * np.exp(-(y[i] - ymin) / lam)
        m += p[i]
    for i in range(n):
        p[i] /= m
    return ymin - lam * np.log(m)


@njit(cache=True, inline="always")
def _tv_penalty_row(pb, y, n, lam, p):
    i_min = 0
    for i in range(n):
        if y[i] < y[i_min]:
            i_min = i
    ymin = y[i_min]
    moved = 0.0
    value = 0.0
    for i in range(n):
        if y[i] > ymin + lam:
            p[i] = 0.0
            moved += pb[i]
            value += pb[i] * (ymin + lam)
        else:
            p[i] = pb[i]
            value += pb[i] * y[i]
    p[i_min] += moved
    return value


@njit(cache=True, inline="always")
def _chi2_penalty_row(pb, y, n, lam, order, p):
    _sort_ascending(y, order, n)
    ymin = y[order[0]]
    M, S1 = 0.0, 0.0
    alpha = 0.0
    for k in range(n):
        j = order[k]
        M += pb[j]
        S1 += pb[j] * (y[j] - ymin)
        if k + 1 < n and y[order[k + 1]] == y[j]:
            continue
        if M <= 0.0:
            continue
        cand = (2.0 * lam + S1) / M  # alpha - ymin on this segment
        right = y[order[k + 1]] - ymin if k + 1 < n else np.inf
        if cand <= right:
            alpha = cand
            break
    value = 0.0
    for i in range(n):
        x = alpha - (y[i] - ymin)
        p[i] = pb[i] * x / (2.0 * lam) if x > 0.0 else 0.0
    for i in range(n):
        value += p[i] * y[i]
        if pb[i] > 0.0:
            value += lam * (p[i] - pb[i]) ** 2 / pb[i]
    return value


@njit(cache=True)
def _max_width(indptr):
    """The longest row of a CSR ``indptr``."""
    width = np.int64(0)
    for row in range(indptr.shape[0] - 1):
        d = np.int64(indptr[row + 1] - indptr[row])
        if d > width:
            width = d
    return width


@njit(cache=True, inline="always")
def _row(kind, pb, y, n, radius, order, w, p):
    """Dispatch to the row routine of ``kind``; ``order``/``w``: scratch, ``p``: output."""
    if kind == KIND_L1:
        return _l1_row(pb, y, n, radius, order, p)
    if kind == KIND_KL:
        return _kl_row(pb, y, n, radius, w, p)
    if kind == KIND_CHI2:
        return _chi2_row(pb, y, n, radius, order, p)
    if kind == KIND_KL_PENALTY:
        return _kl_penalty_row(pb, y, n, radius, p)
    if kind == KIND_TV_PENALTY:
        return _tv_penalty_row(pb, y, n, radius, p)
    return _chi2_penalty_row(pb, y, n, radius, order, p)


@njit(cache=True)
def _csr_sigma(indptr, indices, data, radius, kind, v, out_sigma, out_data, write):
    """``out_sigma[row] = sigma_row(v)`` for every row; with ``write != 0`` the worst
    distributions go to ``out_data`` (same CSR pattern)."""
    n_rows = indptr.shape[0] - 1
    width = _max_width(indptr)
    y = np.empty(width)
    pb = np.empty(width)
    order = np.empty(width, np.int64)
    w = np.empty(width)
    p = np.empty(width)
    for row in range(n_rows):
        k0 = indptr[row]
        n = np.int64(indptr[row + 1] - k0)
        for i in range(n):
            y[i] = v[indices[k0 + i]]
            pb[i] = data[k0 + i]
        out_sigma[row] = _row(kind, pb, y, n, radius[row], order, w, p)
        if write != 0:
            for i in range(n):
                out_data[k0 + i] = p[i]


@njit(cache=True)
def _csr_l1_sweep(indptr, indices, data, r, gamma, kappa, v, actions, out_v, out_a):
    """Robust L1 sweep on CSR rows of at most :data:`L1_SELECT_MAX` entries (value only,
    :func:`_l1_row_value`): ``out_v[s] = max_a r + gamma sigma_sa(v)`` (or the action
    ``actions[s] >= 0``), the maximiser in ``out_a``."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    y = np.empty(max(_max_width(indptr), np.int64(1)))
    pb = np.empty_like(y)
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            sigma = _l1_row_value(indptr, indices, data, v, row, kappa[row], y, pb)
            q = r[row] + gamma * sigma
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True, fastmath={"contract"}, inline="always")
def _l1_block_top(y, pb, eps, acc, top, m, width, n_block):
    """``top[:m] = top(eps)`` of the block's rows (targets ``y``, probabilities ``pb`` of entry
    ``i`` of row ``k`` at ``[i * n_block + k]``): ``min_j eps y_j + sum_{i != j} pb_i (y_i -
    y_j)_+`` as ``width (width - 1)`` subtract-max-FMA passes over the rows, each a loop that
    the compiler vectorises (four rows per AVX2 instruction; ``acc`` scratch)."""
    top[:m] = np.inf
    for j in range(width):
        y_j = y[j * n_block : (j + 1) * n_block]
        for k in range(m):
            acc[k] = eps[k] * y_j[k]
        for i in range(width):
            if i == j:
                continue
            y_i = y[i * n_block : (i + 1) * n_block]
            pb_i = pb[i * n_block : (i + 1) * n_block]
            for k in range(m):
                acc[k] += pb_i[k] * max(y_i[k] - y_j[k], 0.0)
        for k in range(m):
            top[k] = min(top[k], acc[k])


@njit(cache=True, fastmath={"contract"})
def _csr_l1_block_sweep(indptr, indices, data, r, gamma, kappa, v, actions, width, out_v, out_a):
    r"""The sweep of :func:`_csr_l1_sweep` for CSR rows of at most ``width`` (at most
    :data:`L1_PAIRWISE_MAX`) entries, vectorised across rows: the same pairwise CVaR form as
    :func:`_l1_row_value`, evaluated on blocks of :data:`BLOCK_ROWS` rows (whole states).

    Per block: a gather pass per row (the targets ``y`` and probabilities ``pb`` of entry
    ``i`` of row ``k`` stored at ``[i, k]``, rows padded to ``width`` entries with their first
    target and probability 0; the nominal value, the first argmin's probability and ``eps``),
    then ``top(eps) = min_j eps y_j + sum_{i != j} pb_i (y_i - y_j)_+`` as ``width (width - 1)``
    subtract-max-FMA passes over the block's rows, each a loop that the compiler vectorises
    (four rows per AVX2 instruction), then the maximum over each state's actions.  A padded
    entry adds a candidate ``t`` equal to an existing one and a zero term, so the value is
    the row's own.  ``fastmath={"contract"}`` lets the compiler fuse multiply and add (the
    values differ from :func:`_l1_row_value` in round-off)."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    n_block = max(np.int64(BLOCK_ROWS), n_actions)
    span = width * n_block
    y = np.empty(span)
    pb = np.empty(span)
    sigma = np.empty(n_block)
    eps = np.empty(n_block)
    top = np.empty(n_block)
    acc = np.empty(n_block)
    rows = np.empty(n_block, dtype=np.int64)
    s0 = 0
    while s0 < n_states:
        m, s1 = _block_rows(actions, n_actions, s0, n_block, rows)
        for k in range(m):
            row = rows[k]
            base = 0.0
            ymin = np.inf
            pmin = 0.0
            i = k
            for kk in range(indptr[row], indptr[row + 1]):
                yi = v[indices[kk]]
                pi = data[kk]
                y[i] = yi
                pb[i] = pi
                base += pi * yi
                lower = yi < ymin
                pmin = pi if lower else pmin
                ymin = min(yi, ymin)
                i += n_block
            while i < span:
                y[i] = y[k]
                pb[i] = 0.0
                i += n_block
            e = max(min(0.5 * kappa[row], 1.0 - pmin), 0.0)
            eps[k] = e
            sigma[k] = base + e * ymin
        _l1_block_top(y, pb, eps, acc, top, m, width, n_block)
        for k in range(m):
            sigma[k] -= top[k]
        _block_reduce(r, gamma, sigma, rows, actions, n_actions, s0, s1, out_v, out_a)
        s0 = s1


def _blocked_layout(indptr, indices, data, n_states, n_actions, width):
    """The CSR rows in the layout of the block sweeps' all-actions case (sliced ELLPACK):
    block ``b`` holds the rows of the states ``b * (n_block // A)`` onwards (``n_block = max(
    BLOCK_ROWS, A)``), entry ``i`` of its row ``k`` at ``[b, i, k]``; rows padded to ``width``
    entries with their first column and probability 0, blocks padded to ``n_block`` rows with
    column 0 and probability 0.  Returns flat ``(columns uint32, probabilities float64)``.
    NumPy, built once per operator (:class:`theory_rl.algorithms.robust._RobustOperator`)."""
    n_block = max(BLOCK_ROWS, n_actions)
    per_block = n_block // n_actions
    n_blocks = -(-n_states // per_block)
    start = np.asarray(indptr, dtype=np.int64)
    length = np.diff(start)
    row = np.arange(n_states * n_actions)
    block, lane = row // (per_block * n_actions), row % (per_block * n_actions)
    columns = np.zeros((n_blocks, width, n_block), dtype=np.uint32)
    probs = np.zeros((n_blocks, width, n_block))
    for i in range(width):
        has = length > i
        pos = np.where(has, start[:-1] + i, start[:-1])
        columns[block, i, lane] = indices[pos]
        probs[block, i, lane] = np.where(has, data[pos], 0.0)
    return columns.ravel(), probs.ravel()


@njit(cache=True, fastmath={"contract"})
def _blocked_l1_sweep(columns, probs, r, gamma, kappa, v, width, out_v, out_a):
    """The all-actions sweep of :func:`_csr_l1_block_sweep` on the rows in the layout of
    :func:`_blocked_layout` (``columns``, ``probs``): the targets of each block by passes over
    its rows (vector gathers), the probabilities read in place, the nominal value, the first
    argmin's probability and ``eps`` by passes too, then :func:`_l1_block_top`.  Measured
    1.1-1.4x faster than the gather pass per row of :func:`_csr_l1_block_sweep`."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    n_block = max(np.int64(BLOCK_ROWS), n_actions)
    per_block = n_block // n_actions
    span = width * n_block
    y = np.empty(span)
    sigma = np.empty(n_block)
    eps = np.empty(n_block)
    ymin = np.empty(n_block)
    pmin = np.empty(n_block)
    top = np.empty(n_block)
    acc = np.empty(n_block)
    for b in range((n_states + per_block - 1) // per_block):
        s0 = b * per_block
        s1 = min(s0 + per_block, n_states)
        m = (s1 - s0) * n_actions
        pb = probs[b * span : (b + 1) * span]
        col = columns[b * span : (b + 1) * span]
        sigma[:m] = 0.0
        ymin[:m] = np.inf
        pmin[:m] = 0.0
        for i in range(width):
            c_i = col[i * n_block : (i + 1) * n_block]
            y_i = y[i * n_block : (i + 1) * n_block]
            pb_i = pb[i * n_block : (i + 1) * n_block]
            for k in range(m):
                y_i[k] = v[c_i[k]]
            for k in range(m):
                yi = y_i[k]
                pi = pb_i[k]
                sigma[k] += pi * yi
                lower = yi < ymin[k]
                pmin[k] = pi if lower else pmin[k]
                ymin[k] = min(yi, ymin[k])
        row0 = s0 * n_actions
        for k in range(m):
            e = max(min(0.5 * kappa[row0 + k], 1.0 - pmin[k]), 0.0)
            eps[k] = e
            sigma[k] += e * ymin[k]
        _l1_block_top(y, pb, eps, acc, top, m, width, n_block)
        k = 0
        for s in range(s0, s1):
            best = -np.inf
            best_a = 0
            for a in range(n_actions):
                q = r[row0 + k] + gamma * (sigma[k] - top[k])
                if q > best:
                    best = q
                    best_a = a
                k += 1
            out_v[s] = best
            out_a[s] = best_a


@njit(cache=True)
def _dense_l1_sweep(P2, r, gamma, kappa, full_support, v, actions, out_v, out_a):
    """Robust L1 sweep on dense ``(S*A, S)`` rows; ``full_support != 0`` lets the worst row
    use every next state, otherwise only the nominal support ``P2[row] > 0``."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    pb = np.empty(n_states)
    y = np.empty(n_states)
    order = np.empty(n_states, np.int64)
    p = np.empty(n_states)
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            n = 0
            for t in range(n_states):
                if full_support != 0 or P2[row, t] > 0.0:
                    pb[n] = P2[row, t]
                    y[n] = v[t]
                    n += 1
            q = r[row] + gamma * _l1_row(pb, y, n, kappa[row], order, p)
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True, inline="always")
def _srect_l1_xi(pb, z, n, order, u):
    """Smallest L1 budget ``xi`` with ``L1-value(xi) <= u`` for target ``z`` (``order``: ``z``
    sorted ascending); ``inf`` when ``u < min z``."""
    zmin = z[order[0]]
    base = _dot(pb, z, n)
    if u >= base:
        return 0.0
    if u < zmin:
        return np.inf
    cur = base
    eps = 0.0
    for t in range(n - 1, 0, -1):
        j = order[t]
        slope = z[j] - zmin
        if slope <= 0.0:
            break
        drop = pb[j] * slope
        if cur - drop <= u:
            return 2.0 * (eps + (cur - u) / slope)
        cur -= drop
        eps += pb[j]
    return 2.0 * eps


@njit(cache=True)
def _csr_srect_sweep(indptr, indices, data, r, gamma, kappa, v, out_v, out_xi, n_bisect):
    """s-rectangular L1 sweep: ``out_v[s] = min{u : sum_a xi_a(u) <= kappa_s}`` by bisection
    on ``u`` (``n_bisect`` halvings after the exact end points); ``out_xi[s*A + a]`` receives
    the budget ``xi_a(u*)`` of each action."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    width = _max_width(indptr)
    z = np.empty((n_actions, width))
    pb = np.empty((n_actions, width))
    order = np.empty((n_actions, width), np.int64)
    ns = np.empty(n_actions, np.int64)
    for s in range(n_states):
        lo = -np.inf
        hi = -np.inf
        for a in range(n_actions):
            row = s * n_actions + a
            k0 = indptr[row]
            n = np.int64(indptr[row + 1] - k0)
            ns[a] = n
            for i in range(n):
                pb[a, i] = data[k0 + i]
                z[a, i] = r[row] + gamma * v[indices[k0 + i]]
            _sort_ascending(z[a], order[a], n)
            lo = max(lo, z[a, order[a, 0]])
            hi = max(hi, _dot(pb[a], z[a], n))
        total = 0.0
        for a in range(n_actions):
            total += _srect_l1_xi(pb[a], z[a], ns[a], order[a], lo)
        if total <= kappa[s]:
            u = lo
        else:
            for _ in range(n_bisect):
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                total = 0.0
                for a in range(n_actions):
                    total += _srect_l1_xi(pb[a], z[a], ns[a], order[a], mid)
                if total <= kappa[s]:
                    hi = mid
                else:
                    lo = mid
            u = hi
        out_v[s] = u
        for a in range(n_actions):
            out_xi[s * n_actions + a] = _srect_l1_xi(pb[a], z[a], ns[a], order[a], u)


# --------------------------------------------------------------------------------------------
# fused sweeps: robust q-values and the max over actions in one pass over the CSR rows, values
# only (the worst distributions are written by ``_csr_sigma`` when asked for)
# --------------------------------------------------------------------------------------------
#: Newton steps of the warm-started KL dual stop once ``|step| <= KL_STEP_RTOL * beta``; the
#: returned dual value is then within :math:`O((\mathrm{step}/\beta)^3)` of the optimum.
KL_STEP_RTOL = 1e-5


@njit(cache=True, inline="always")
def _gather(indices, v, k0, n, y):
    """``y[:n] = v[indices[k0:k0 + n]]``; returns ``(min y, max y)``."""
    ymin = np.inf
    ymax = -np.inf
    for i in range(n):
        yi = v[indices[k0 + i]]
        y[i] = yi
        ymin = min(ymin, yi)
        ymax = max(ymax, yi)
    return ymin, ymax


@njit(cache=True)
def _chi2_sorted_value(data, k0, n, y, rho, pb, order, p):
    """The chi-square ball's sorted rule (:func:`_chi2_row`) for the rows that the closed form
    of :func:`_csr_chi2_sweep` does not cover; not inlined (called for those rows only).
    ``pb``, ``order``, ``p``: scratch of at least ``n`` entries."""
    for i in range(n):
        pb[i] = data[k0 + i]
    return _chi2_row(pb, y, n, rho, order, p)


@njit(cache=True)
def _chi2_penalty_sorted_value(data, k0, n, y, lam, pb, order, p):
    """The chi-square penalty's sorted rule (:func:`_chi2_penalty_row`), as
    :func:`_chi2_sorted_value`."""
    for i in range(n):
        pb[i] = data[k0 + i]
    return _chi2_penalty_row(pb, y, n, lam, order, p)


@njit(cache=True)
def _kl_row_solve(data, k0, n, y, delta, betas, row, e):
    r"""KL ball value of a row whose targets are in ``y[:n]`` (``e``: scratch), through the dual
    on ``beta`` warm-started at ``betas[row]`` (cold start, as :func:`_kl_row`, when it is not
    positive and finite); the root is stored back into ``betas[row]``.

    Returns :math:`\min y + h(\beta) + f^2/(2\beta^3\mathrm{Var}_{q_\beta} w)` with
    :math:`h(\beta) = -(\log\mathbb E_{\bar p} e^{-\beta w} + \delta)/\beta` the dual
    function (stationary at the root: :math:`h' = -f/\beta^2`, :math:`h'' = -\mathrm{Var}/\beta`)
    and :math:`f = \mathrm{KL}(q_\beta\|\bar p) - \delta`: the second-order correction
    makes the error third order in the last Newton step, which is at most
    :data:`KL_STEP_RTOL` ``* beta``.  Each evaluation is one pass (``n`` exponentials, the
    moments ``E w``, ``E w^2`` and the argmin mass) and a logarithm; once the multipliers
    settle, one evaluation per row (:func:`_csr_kl_block_sweep` takes these steps on blocks of
    rows and calls this function for the other rows: limits, non-convergence)."""
    ymin = np.inf
    ymax = -np.inf
    for i in range(n):
        ymin = min(ymin, y[i])
        ymax = max(ymax, y[i])
    if delta <= 0.0 or ymax == ymin:
        acc = 0.0
        for i in range(n):
            acc += data[k0 + i] * (y[i] - ymin)
        return ymin + acc
    beta = betas[row]
    if not (0.0 < beta < np.inf):  # cold start at the second-order root sqrt(2 delta / Var w)
        mean0 = 0.0
        for i in range(n):
            mean0 += data[k0 + i] * (y[i] - ymin)
        var0 = 0.0
        for i in range(n):
            var0 += data[k0 + i] * (y[i] - ymin - mean0) ** 2
        beta = np.sqrt(2.0 * delta / var0) if var0 > 0.0 else 1.0 / (ymax - ymin)
    lo, hi = 0.0, np.inf
    mean = 0.0
    for it in range(KL_MAX_ITER):
        m = 0.0
        s1 = 0.0
        s2 = 0.0
        m0 = 0.0
        for i in range(n):
            w = y[i] - ymin
            pb = data[k0 + i]
            ei = pb * np.exp(-beta * w)
            e[i] = ei
            m += ei
            s1 += ei * w
            s2 += ei * w * w
            m0 += pb if w == 0.0 else 0.0
        if it == 0 and delta >= 1.0 - m0 and delta >= -np.log(m0):
            # large radius (-log m0 >= 1 - m0 spares the logarithm in most rows): all mass on
            # the argmin set, value min y
            betas[row] = np.inf
            return ymin
        mean = s1 / m
        var = s2 / m - mean * mean
        if var <= 1e-6 * (s2 / m):  # cancellation: the two-pass variance
            var = 0.0
            for i in range(n):
                var += e[i] * (y[i] - ymin - mean) ** 2
            var /= m
        log_m = np.log(m)
        f = -beta * mean - log_m - delta
        if f > 0.0:
            hi = beta
        else:
            lo = beta
        slope = beta * var
        if slope > 0.0:
            step = f / slope
            if abs(step) <= KL_STEP_RTOL * beta:
                betas[row] = beta - step
                return ymin - (log_m + delta) / beta + f * f / (2.0 * beta * beta * slope)
        if hi < np.inf and hi - lo <= 1e-15 * hi:
            betas[row] = beta
            return ymin + mean
        nxt = beta - f / slope if slope > 0.0 else -1.0
        if lo < nxt < hi:
            beta = nxt
        elif hi == np.inf:
            beta = 2.0 * max(beta, lo)
        else:
            beta = 0.5 * (lo + hi)
    betas[row] = beta
    return ymin + mean


#: Newton steps that :func:`_csr_kl_block_sweep` takes on a block before handing a row to the
#: safeguarded solver :func:`_kl_row_solve`.
KL_INLINE_STEPS = 8

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI with 11 trailing zero bits
_LN2_LO = 1.9082149292705877e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: x + _ROUND - _ROUND rounds |x| < 2**51 to an integer
_ROUND_BITS = int(np.float64(_ROUND).view(np.int64))
_EXP_MIN = -708.0  # exp(-708) ~ 3e-308 is normal


@njit(cache=True, fastmath={"contract"}, inline="always")
def _exp_nonpositive(x, out, scale, scale_bits, n):
    r"""``out[:n] = exp(x[:n])`` for ``x <= 0`` (``x < -708`` gives ``exp(-708)``), written so
    that the compiler vectorises it (``np.exp`` in a loop calls the C library one element at a
    time): ``x = n ln 2 + t`` with ``n`` the nearest integer to ``x / ln 2`` (Cody-Waite:
    ``t`` exact to about 1e-20), ``exp(t)`` by its Taylor polynomial of degree 13 on
    ``|t| <= ln 2 / 2`` (remainder below ``0.35^14 / 14! = 4e-18``), and ``2^n`` built from its
    exponent bits in ``scale`` (``scale_bits``: the same memory as int64).  Measured within
    1 ulp of ``np.exp`` (``tests/test_robust_sweeps.py``)."""
    for k in range(n):
        t = max(x[k], _EXP_MIN)
        z = t * _LOG2E + _ROUND
        nf = z - _ROUND
        t = (t - nf * _LN2_HI) - nf * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * t + 1.0 / 479001600.0
        p = p * t + 1.0 / 39916800.0
        p = p * t + 1.0 / 3628800.0
        p = p * t + 1.0 / 362880.0
        p = p * t + 1.0 / 40320.0
        p = p * t + 1.0 / 5040.0
        p = p * t + 1.0 / 720.0
        p = p * t + 1.0 / 120.0
        p = p * t + 1.0 / 24.0
        p = p * t + 1.0 / 6.0
        p = p * t + 0.5
        p = p * t + 1.0
        out[k] = p * t + 1.0
        scale[k] = z
    for k in range(n):
        scale_bits[k] = (scale_bits[k] - _ROUND_BITS + 1023) << 52
    for k in range(n):
        out[k] *= scale[k]


@njit(cache=True, fastmath={"contract"})
def _csr_kl_block_sweep(
    indptr, indices, data, r, gamma, delta, v, actions, betas, width, out_v, out_a
):
    r"""Robust KL-ball sweep (values only), vectorised across rows: ``out_v[s] = max_a r +
    gamma sigma_sa(v)`` (or the action ``actions[s] >= 0``), the maximiser in ``out_a``;
    ``betas`` (``(S*A,)``) carries each row's dual multiplier from one sweep to the next;
    ``width`` at least the longest row.

    The rule of :func:`_kl_row_solve` on blocks of :data:`BLOCK_ROWS` rows (whole states):
    Newton steps on ``beta`` from ``betas[row]`` (cold start at the second-order root
    :math:`\sqrt{2\delta/\mathrm{Var}_{\bar p} w}`), each one evaluation of the dual for every
    row still in the block (``n`` exponentials by :func:`_exp_nonpositive`, the moments
    ``E w``, ``E w^2`` and the argmin mass, as passes over the rows that the compiler
    vectorises; then a logarithm per row), until ``|step| <= KL_STEP_RTOL * beta``; the value
    is the dual value plus its second-order correction (:func:`_kl_row_solve`).  Rows that
    converge leave the block (the others are moved down); a row that leaves the common case
    (radius 0, a constant row, the large-radius limit, a non-positive multiplier, cancellation
    in the variance, :data:`KL_INLINE_STEPS` steps without convergence) goes to the
    safeguarded solver :func:`_kl_row_solve`, which starts over from ``betas[row]``."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    n_block = max(np.int64(BLOCK_ROWS), n_actions)
    span = width * n_block
    # lane k (a row still in the Newton steps) holds entry i of its row at [i * n_block + k]
    y = np.empty(span)
    pb = np.empty(span)
    ymin = np.empty(n_block)
    beta = np.empty(n_block)
    radius = np.empty(n_block)
    cold = np.empty(n_block, dtype=np.bool_)
    pos = np.empty(n_block, dtype=np.int64)  # lane -> the row's place in the block
    rows = np.empty(n_block, dtype=np.int64)
    sigma = np.empty(n_block)
    solver = np.empty(n_block, dtype=np.int64)  # places of the rows for _kl_row_solve
    m = np.empty(n_block)
    s1 = np.empty(n_block)
    s2 = np.empty(n_block)
    m0 = np.empty(n_block)
    x = np.empty(n_block)
    ex = np.empty(n_block)
    scale = np.empty(n_block)
    scale_bits = scale.view(np.int64)
    y_row = np.empty(max(width, np.int64(1)))
    e_row = np.empty_like(y_row)
    s0 = 0
    while s0 < n_states:
        n_rows, s_end = _block_rows(actions, n_actions, s0, n_block, rows)
        n_lanes = 0
        n_solver = 0
        any_cold = False
        for k in range(n_rows):
            row = rows[k]
            lo = np.inf
            hi = -np.inf
            i = n_lanes
            for kk in range(indptr[row], indptr[row + 1]):
                yi = v[indices[kk]]
                y[i] = yi
                pb[i] = data[kk]
                lo = min(lo, yi)
                hi = max(hi, yi)
                i += n_block
            d = delta[row]
            if hi == lo or not d > 0.0:
                solver[n_solver] = k
                n_solver += 1
                continue
            while i < span:  # padding: probability 0
                y[i] = lo
                pb[i] = 0.0
                i += n_block
            b = betas[row]
            c = not (0.0 < b < np.inf)
            any_cold |= c
            cold[n_lanes] = c
            beta[n_lanes] = 1.0 / (hi - lo) if c else b
            pos[n_lanes] = k
            ymin[n_lanes] = lo
            radius[n_lanes] = d
            n_lanes += 1
        if any_cold:  # mean and variance of w = y - min y under the nominal row
            m[:n_lanes] = 0.0
            s2[:n_lanes] = 0.0
            for i in range(width):
                y_i = y[i * n_block : (i + 1) * n_block]
                pb_i = pb[i * n_block : (i + 1) * n_block]
                for k in range(n_lanes):
                    m[k] += pb_i[k] * (y_i[k] - ymin[k])
            for i in range(width):
                y_i = y[i * n_block : (i + 1) * n_block]
                pb_i = pb[i * n_block : (i + 1) * n_block]
                for k in range(n_lanes):
                    s2[k] += pb_i[k] * (y_i[k] - ymin[k] - m[k]) ** 2
            for k in range(n_lanes):
                if cold[k] and s2[k] > 0.0:
                    beta[k] = np.sqrt(2.0 * radius[k] / s2[k])
        for step in range(KL_INLINE_STEPS):
            if n_lanes == 0:
                break
            m[:n_lanes] = 0.0
            s1[:n_lanes] = 0.0
            s2[:n_lanes] = 0.0
            m0[:n_lanes] = 0.0
            for i in range(width):
                y_i = y[i * n_block : (i + 1) * n_block]
                pb_i = pb[i * n_block : (i + 1) * n_block]
                for k in range(n_lanes):
                    x[k] = -beta[k] * (y_i[k] - ymin[k])
                _exp_nonpositive(x, ex, scale, scale_bits, n_lanes)
                for k in range(n_lanes):
                    w = y_i[k] - ymin[k]
                    e = pb_i[k] * ex[k]
                    m[k] += e
                    s1[k] += e * w
                    s2[k] += e * w * w
                    m0[k] += pb_i[k] if w == 0.0 else 0.0
            keep = 0
            for k in range(n_lanes):
                mean = s1[k] / m[k]
                second = s2[k] / m[k]
                var = second - mean * mean
                b = beta[k]
                d = radius[k]
                if d < 1.0 - m0[k] and var > 1e-6 * second and m[k] >= 1e-300:
                    log_m = np.log(m[k])
                    f = -b * mean - log_m - d
                    slope = b * var
                    if abs(f) <= KL_STEP_RTOL * b * slope:  # converged
                        betas[rows[pos[k]]] = b - f / slope
                        sigma[pos[k]] = ymin[k] - (log_m + d) / b + f * f / (2.0 * b * b * slope)
                        continue
                    b -= f / slope
                    if step < KL_INLINE_STEPS - 1 and 0.0 < b < np.inf:  # one more step
                        if keep < k:
                            for i in range(width):
                                y[i * n_block + keep] = y[i * n_block + k]
                                pb[i * n_block + keep] = pb[i * n_block + k]
                        pos[keep] = pos[k]
                        ymin[keep] = ymin[k]
                        radius[keep] = d
                        beta[keep] = b
                        keep += 1
                        continue
                solver[n_solver] = pos[k]
                n_solver += 1
            n_lanes = keep
        for t in range(n_solver):
            row = rows[solver[t]]
            k0 = indptr[row]
            n = np.int64(indptr[row + 1] - k0)
            for i in range(n):
                y_row[i] = v[indices[k0 + i]]
            sigma[solver[t]] = _kl_row_solve(data, k0, n, y_row, delta[row], betas, row, e_row)
        _block_reduce(r, gamma, sigma, rows, actions, n_actions, s0, s_end, out_v, out_a)
        s0 = s_end


@njit(cache=True)
def _csr_chi2_sweep(indptr, indices, data, r, gamma, rho, v, actions, out_v, out_a):
    """Robust chi-square-ball sweep (values only): the closed form
    :math:`\\mu - \\sqrt{\\rho}\\,\\sigma` when every entry stays active (as :func:`_chi2_row`),
    the sorted rule otherwise; arguments as :func:`_csr_l1_sweep`."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    width = max(_max_width(indptr), np.int64(1))
    y = np.empty(width)
    pb = np.empty(width)
    order = np.empty(width, np.int64)
    p = np.empty(width)
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            k0 = indptr[row]
            n = np.int64(indptr[row + 1] - k0)
            rad = rho[row]
            mu = 0.0
            ymax = -np.inf
            for i in range(n):
                yi = v[indices[k0 + i]]
                y[i] = yi
                mu += data[k0 + i] * yi
                ymax = max(ymax, yi)
            sigma = mu
            if rad > 0.0 and n > 1:
                var = 0.0
                for i in range(n):
                    var += data[k0 + i] * (y[i] - mu) ** 2
                if var > 0.0:
                    sd = np.sqrt(var)
                    if mu + sd / np.sqrt(rad) >= ymax:
                        sigma = mu - np.sqrt(rad) * sd
                    else:
                        sigma = _chi2_sorted_value(data, k0, n, y, rad, pb, order, p)
            q = r[row] + gamma * sigma
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True)
def _csr_kl_penalty_sweep(indptr, indices, data, r, gamma, lam, v, actions, out_v, out_a):
    """KL-penalty sweep (values only): :math:`\\sigma = \\min y - \\lambda\\log\\mathbb
    E_{\\bar p} e^{-(y - \\min y)/\\lambda}`; arguments as :func:`_csr_l1_sweep`."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    y = np.empty(max(_max_width(indptr), np.int64(1)))
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            k0 = indptr[row]
            n = np.int64(indptr[row + 1] - k0)
            ymin, _ = _gather(indices, v, k0, n, y)
            inv = 1.0 / lam[row]
            m = 0.0
            for i in range(n):
                m += data[k0 + i] * np.exp(-(y[i] - ymin) * inv)
            q = r[row] + gamma * (ymin - lam[row] * np.log(m))
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True)
def _csr_tv_penalty_sweep(indptr, indices, data, r, gamma, lam, v, actions, out_v, out_a):
    """TV-penalty sweep (values only): :math:`\\sigma = \\mathbb E_{\\bar p}\\min(y, \\min y +
    \\lambda)`; arguments as :func:`_csr_l1_sweep`."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    y = np.empty(max(_max_width(indptr), np.int64(1)))
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            k0 = indptr[row]
            n = np.int64(indptr[row + 1] - k0)
            ymin, _ = _gather(indices, v, k0, n, y)
            cap = ymin + lam[row]
            sigma = 0.0
            for i in range(n):
                sigma += data[k0 + i] * min(y[i], cap)
            q = r[row] + gamma * sigma
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a


@njit(cache=True)
def _csr_chi2_penalty_sweep(indptr, indices, data, r, gamma, lam, v, actions, out_v, out_a):
    """Chi-square-penalty sweep (values only): :math:`\\mu - \\mathrm{Var}_{\\bar p}(y)/(4\\lambda)`
    when every entry stays active (:math:`\\mu + 2\\lambda \\ge \\max y`), the sorted rule of
    :func:`_chi2_penalty_row` otherwise; arguments as :func:`_csr_l1_sweep`."""
    n_states = v.shape[0]
    n_actions = r.shape[0] // n_states
    width = max(_max_width(indptr), np.int64(1))
    y = np.empty(width)
    pb = np.empty(width)
    order = np.empty(width, np.int64)
    p = np.empty(width)
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            k0 = indptr[row]
            n = np.int64(indptr[row + 1] - k0)
            lam_row = lam[row]
            mu = 0.0
            ymax = -np.inf
            for i in range(n):
                yi = v[indices[k0 + i]]
                y[i] = yi
                mu += data[k0 + i] * yi
                ymax = max(ymax, yi)
            if mu + 2.0 * lam_row >= ymax:
                var = 0.0
                for i in range(n):
                    var += data[k0 + i] * (y[i] - mu) ** 2
                sigma = mu - var / (4.0 * lam_row)
            else:
                sigma = _chi2_penalty_sorted_value(data, k0, n, y, lam_row, pb, order, p)
            q = r[row] + gamma * sigma
            if q > best:
                best = q
                best_a = a
        out_v[s] = best
        out_a[s] = best_a

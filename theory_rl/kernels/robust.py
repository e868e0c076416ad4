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
:math:`\sigma = \min_p p\cdot y\,[+\,\lambda D(p, \bar p)]`.
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


@njit(cache=True, inline="always")
def _l1_row_value(indptr, indices, data, v, row, kappa, y):
    """L1 ball value of CSR row ``row`` without sorting: one pass for the nominal value and the
    argmin, then the largest remaining entries selected one at a time until ``eps`` is removed
    (1.6 selections per row on average on a garnet with ``b = 5``, ``kappa = 0.3``).  The
    selections are written with conditional moves (``y`` holds ``-inf`` for removed entries):
    data-dependent branches cost 3x more here.  Same value as :func:`_l1_row`, which sorts;
    O(b) per selection, so callers use it for rows of at most :data:`L1_SELECT_MAX` entries
    (a call to the sorting routine inside this loop, even untaken, slowed it down 2-4x)."""
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
        base += pi * yi
        lower = yi < ymin
        ymin = yi if lower else ymin
        pmin = pi if lower else pmin
        i_min = i if lower else i_min
    eps = min(0.5 * kappa, 1.0 - pmin)
    if n == 1 or eps <= 0.0:
        return base
    value = base + eps * ymin
    rem = eps
    y[i_min] = -np.inf
    for _ in range(n - 1):
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
        if rem <= 0.0:
            break
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
    for s in range(n_states):
        lo, hi = (actions[s], actions[s] + 1) if actions[s] >= 0 else (0, n_actions)
        best = -np.inf
        best_a = lo
        for a in range(lo, hi):
            row = s * n_actions + a
            sigma = _l1_row_value(indptr, indices, data, v, row, kappa[row], y)
            q = r[row] + gamma * sigma
            if q > best:
                best = q
                best_a = a
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

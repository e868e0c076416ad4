r"""Convergence bounds of stock-augmented distributional value iteration, as derived in the
project's theory notes ([D]); **not** the constants of Pires et al. (2025), whose body could not
be read.

Setting: objective :math:`K(\nu) = \mathbb E f(X)` with ``f`` ``L``-Lipschitz and positively
homogeneous of degree 1, :math:`U_n(s, c) = K(\eta_n(s, c))`, DVI from
:math:`\eta_0(s, c) = \delta_c`.  Then :math:`U_{n+1} = \mathcal T U_n` with
:math:`(\mathcal T U)(s, c) = \max_a \gamma\,\mathbb E\,U(S', (c + R)/\gamma)`, a
:math:`\gamma`-contraction in the sup norm (also on a stock grid with linear interpolation and
fixed closed forms outside it: interpolation weights are probabilities).  Hence

* :math:`\sup|U_n - U^*| \le \gamma^n \sup|U_0 - U^*|` -- :func:`dvi_value_bound`; and, since
  :math:`|f(c) - \mathbb E f(c + G)| \le L\,\mathbb E|G|`, :math:`\sup|U_0 - U^*| \le L G_{\max}`
  with :math:`G_{\max} = \max(|V_{\min}|, |V_{\max}|)` for the exact operator
  (:func:`dvi_initial_gap_bound`; on a grid of step ``h`` the interpolation adds at most
  :math:`L h/(2(1-\gamma))`).
* the policy greedy for :math:`U_n` loses at most :math:`2\gamma\sup|U_n - U^*|/(1-\gamma)
  \le 2\gamma^{n+1}L G_{\max}/(1-\gamma)` -- :func:`dvi_policy_gap_bound` (the standard greedy
  loss bound of a :math:`\gamma`-contraction, Singh & Yee 1994).

* **quantile laws per (state, stock), finite horizon** -- :func:`quantile_stock_error_bound`.
  DVI that projects every law of :math:`c + G_t` with :math:`\Pi_Q` (``M`` atoms at
  :math:`\tau_i = (2i-1)/(2M)`, tie tolerance :math:`\epsilon`) on the exact reachable stocks of a
  ``H``-step MDP with rewards in an interval of width :math:`\Delta R`.  Derivation [D]:
  (i) for a law :math:`\nu` with support of width :math:`D`, :math:`w_1(\Pi_Q\nu, \nu) =
  \sum_i\int_{(i-1)/M}^{i/M}|F^{-1}(u) - F^{-1}(\tau_i')|du` with :math:`\tau_i'` within
  :math:`\epsilon` of :math:`\tau_i`; on each cell :math:`F^{-1}` is monotone, so the integral is at
  most :math:`(\frac1{2M} + \epsilon)` times its increase over the cell, and the increases
  telescope to at most :math:`D`: :math:`w_1 \le (\frac1{2M} + \epsilon)D`; (ii) ``f``
  ``L``-Lipschitz gives :math:`|\mathbb E f(X) - \mathbb E f(Y)| \le L w_1`; (iii) the law of
  :math:`c + G_t` lies in an interval of width :math:`D_t = \Delta R\sum_{u<H-t}\gamma^u` (the
  projection keeps atoms inside the hull); (iv) for ``f`` homogeneous of degree 1 (or any ``f``
  at :math:`\gamma = 1`), :math:`K(T^a\hat\eta_{t+1})(s, c) = \gamma\,\mathbb E\hat U_{t+1}(S',
  C')`, so :math:`\delta_t \le L(\frac1{2M}+\epsilon)D_t + \gamma\delta_{t+1}` with
  :math:`\delta_t = \sup_{(s, c)}|\hat U_t - U^*_t|` over reachable pairs (a max of numbers each
  within :math:`\delta` of another max is within :math:`\delta`), :math:`\delta_H = 0`.  Hence
  :math:`\delta_0 \le L(\frac1{2M}+\epsilon)\Delta R\sum_{t<H}\gamma^t\sum_{u<H-t}\gamma^u`
  (:math:`= L\Delta R H(H+1)/(4M)` at :math:`\gamma = 1`, :math:`\epsilon = 0`).  It bounds the
  value that DVI reports, not the exact value of its greedy policy.

References:
    Ávila Pires, B. et al. (2025). Optimizing return distributions with distributional dynamic
    programming. JMLR 26(185); arXiv:2501.13028 (abstract only read).
    Singh, S. P. & Yee, R. C. (1994). An upper bound on the loss from approximate optimal-value
    functions. Machine Learning 16:227-233.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive, as_real

__all__ = [
    "dvi_initial_gap_bound",
    "dvi_policy_gap_bound",
    "dvi_value_bound",
    "quantile_stock_error_bound",
]


def _gamma(gamma: Any) -> float:
    return as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)


def dvi_value_bound(initial_gap: float, gamma: float, n: Any) -> Any:
    r""":math:`\gamma^n\,` ``initial_gap`` at iterations ``n``.

    >>> dvi_value_bound(2.0, 0.5, [0, 1, 2]).tolist()
    [2.0, 1.0, 0.5]
    """
    return as_positive("initial_gap", initial_gap, allow_zero=True) * _gamma(gamma) ** np.asarray(
        n, dtype=float
    )


def dvi_initial_gap_bound(
    lipschitz: float, g_max: float, *, spacing: float = 0.0, gamma: float = 0.0
) -> float:
    r""":math:`L\,(G_{\max} + h/(2(1-\gamma)))` (``spacing`` ``h = 0``: the exact operator).

    >>> dvi_initial_gap_bound(1.0, 10.0)
    10.0
    """
    L = as_positive("lipschitz", lipschitz)
    h = as_positive("spacing", spacing, allow_zero=True)
    return L * (as_positive("g_max", g_max, allow_zero=True) + h / (2.0 * (1.0 - _gamma(gamma))))


def dvi_policy_gap_bound(value_gap: Any, gamma: float) -> Any:
    r""":math:`2\gamma\,` ``value_gap`` :math:`/(1-\gamma)`.

    >>> float(dvi_policy_gap_bound(1.0, 0.5))
    2.0
    """
    g = _gamma(gamma)
    return 2.0 * g * np.asarray(value_gap) / (1.0 - g)


def quantile_stock_error_bound(
    reward_span: float,
    gamma: float,
    horizon: int,
    n_quantiles: Any,
    *,
    lipschitz: float = 1.0,
    tie_tol: float = 1e-10,
) -> Any:
    r""":math:`L(\frac1{2M} + \epsilon)\Delta R\sum_{t<H}\gamma^t\sum_{u<H-t}\gamma^u`: the
    finite-horizon quantile stock DVI error (module docstring, [D]); ``gamma`` in ``(0, 1]``.

    >>> float(quantile_stock_error_bound(1.0, 1.0, 2, 3, tie_tol=0.0))  # (1/6) (2 + 1)
    0.5
    """
    g = as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_minimum=True)
    H = as_int("horizon", horizon, minimum=1)
    m = np.asarray(n_quantiles, dtype=float)
    if m.size == 0 or np.any(m < 2) or np.any(m != np.floor(m)):
        raise ValueError(f"n_quantiles must be integers >= 2, got {n_quantiles!r}")
    span = as_positive("reward_span", reward_span, allow_zero=True)
    L = as_positive("lipschitz", lipschitz)
    eps = as_positive("tie_tol", tie_tol, allow_zero=True)
    total = sum(g**t * sum(g**u for u in range(H - t)) for t in range(H))
    return L * (1.0 / (2.0 * m) + eps) * span * total

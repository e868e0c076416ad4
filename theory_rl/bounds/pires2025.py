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

References:
    Ávila Pires, B. et al. (2025). Optimizing return distributions with distributional dynamic
    programming. JMLR 26(185); arXiv:2501.13028 (abstract only read).
    Singh, S. P. & Yee, R. C. (1994). An upper bound on the loss from approximate optimal-value
    functions. Machine Learning 16:227-233.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl._checks import as_positive, as_real

__all__ = ["dvi_initial_gap_bound", "dvi_policy_gap_bound", "dvi_value_bound"]


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

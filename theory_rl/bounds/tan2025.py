r"""The optimistic actor-critic (Tan, Fan & Wei, ICML 2025): switch counts, step size, the
regret and sample-complexity forms.

**Provenance.**  Only the abstract and the PMLR page were read ([V]); the algorithm implemented
in :mod:`theory_rl.algorithms.actor_critic` is a reconstruction.  What is stated here:

* :func:`tabular_switch_bound` [D]: with the trigger "some :math:`N_h(s,a)` reaches a power of
  two" and at most one visit per :math:`(h, s, a)` per episode, each triple fires at the counts
  :math:`1, 2, 4, \dots \le N_{\max}` -- at most :math:`\lfloor\log_2 N_{\max}\rfloor + 1`
  times -- and every switch needs a firing, so
  :math:`\#\text{switches} \le SAH(\lfloor\log_2(T + N_\text{off})\rfloor + 1)`
  (:math:`N_{\max} \le T + N_\text{off}`; the notes' :math:`SAH\log_2 T` for
  :math:`N_\text{off} = 0`, counted exactly).
* :func:`linear_switch_bound` [D]: with the trigger "some :math:`\det\Lambda_h` doubled since
  the last switch", every switch raises some :math:`\log_2\det\Lambda_h` by at least 1, and by
  AM-GM on the eigenvalues :math:`\det\Lambda_h \le (\lambda + n L^2/d)^d` after ``n``
  rank-one updates with :math:`\|\phi\| \le L`, so
  :math:`\#\text{switches} \le H\lfloor d\log_2(1 + (T+N_\text{off})L^2/(d\lambda))\rfloor`
  -- the ":math:`dH\log T`" of the notes.
* :func:`hedge_step_size` [D]: Hedge with payoffs in :math:`[0, H]` restarted ``M`` times over
  ``T`` rounds has regret at most :math:`M\log|A|/\eta + \eta H^2 T/8` per state (Hoeffding's
  lemma, summed over restart intervals); :math:`\eta = \sqrt{8M\log|A|/(H^2T)}` minimises it,
  giving :math:`H\sqrt{MT\log|A|/2}`.  The notes' :math:`\eta \asymp \sqrt{\log|A|/(H^2T)}`
  [R] is this with the switch count hidden in the constant.
* :func:`sample_complexity` [V form]: :math:`d H^5\log|A|/\varepsilon^2 + dH^4\log|F|/
  \varepsilon^2` trajectories, constants not stated in the abstract (``c`` = 1 here): only
  its :math:`\varepsilon^{-2}` slope is checked.

References:
    K. Tan, W. Fan, Y. Wei. Actor-critics can achieve optimal sample efficiency. ICML 2025,
    PMLR 267:58545-58590, arXiv:2505.03710.
"""

from __future__ import annotations

import math

import numpy as np

from theory_rl._checks import as_int, as_positive

__all__ = [
    "hedge_step_size",
    "linear_switch_bound",
    "sample_complexity",
    "tabular_switch_bound",
]


def tabular_switch_bound(
    n_states: int, n_actions: int, horizon: int, n_episodes: int, n_offline: int = 0
) -> int:
    """:math:`SAH(\\lfloor\\log_2(T + N_{off})\\rfloor + 1)` (module docstring).

    Example:
        >>> tabular_switch_bound(2, 2, 2, 8)
        32
    """
    S, A, H = (
        as_int(n, v)
        for n, v in (("n_states", n_states), ("n_actions", n_actions), ("horizon", horizon))
    )
    T = as_int("n_episodes", n_episodes)
    n_off = as_int("n_offline", n_offline, minimum=0)
    return S * A * H * (int(math.floor(math.log2(T + n_off))) + 1)


def linear_switch_bound(
    dim: int,
    horizon: int,
    n_episodes: int,
    *,
    lam: float = 1.0,
    feature_norm: float = 1.0,
    n_offline: int = 0,
) -> int:
    """:math:`H\\lfloor d\\log_2(1 + (T + N_{off})L^2/(d\\lambda))\\rfloor` (module docstring).

    Example:
        >>> linear_switch_bound(2, 3, 6)
        12
    """
    d = as_int("dim", dim)
    H = as_int("horizon", horizon)
    T = as_int("n_episodes", n_episodes)
    n_off = as_int("n_offline", n_offline, minimum=0)
    lam = as_positive("lam", lam)
    L = as_positive("feature_norm", feature_norm)
    return H * int(math.floor(d * math.log2(1.0 + (T + n_off) * L * L / (d * lam)) + 1e-12))


def hedge_step_size(n_actions: int, horizon: int, n_episodes: int, n_restarts: int) -> float:
    """:math:`\\sqrt{8M\\log|A|/(H^2T)}` with ``M = n_restarts`` (module docstring).

    Example:
        >>> round(hedge_step_size(4, 2, 8, 1), 6)
        0.588705
    """
    A = as_int("n_actions", n_actions)
    H = as_int("horizon", horizon)
    T = as_int("n_episodes", n_episodes)
    M = as_int("n_restarts", n_restarts)
    return math.sqrt(8.0 * M * math.log(max(A, 2)) / (H * H * T))


def sample_complexity(
    epsilon: float | np.ndarray,
    *,
    dim: int,
    horizon: int,
    n_actions: int,
    log_class_size: float,
    constant: float = 1.0,
) -> float | np.ndarray:
    """:math:`c\\,(dH^5\\log|A| + dH^4\\log|F|)/\\varepsilon^2` trajectories (abstract, [V]
    form; ``c`` unstated there).

    Example:
        >>> float(sample_complexity(0.5, dim=1, horizon=1, n_actions=2, log_class_size=0.0))
        2.772588722239781
    """
    eps = np.asarray(epsilon, dtype=np.float64)
    if np.any(eps <= 0):
        raise ValueError("epsilon must be > 0")
    d, H = as_int("dim", dim), as_int("horizon", horizon)
    A = as_int("n_actions", n_actions)
    out = constant * (d * H**5 * math.log(A) + d * H**4 * log_class_size) / eps**2
    return float(out) if out.ndim == 0 else out

"""What the Nash claims (``nash_*``) share: the certified reference equilibrium and the round-off
floor of a KL divergence to it; not a claim itself (games come from
:func:`theory_rl.experiments.instances.make_game`)."""

from __future__ import annotations

import numpy as np

from theory_rl.algorithms import nash
from theory_rl.mdps import games

__all__ = ["EPS", "kl_atol", "reference_equilibrium"]

EPS = float(np.finfo(np.float64).eps)


def reference_equilibrium(game: games.PreferenceGame) -> tuple[np.ndarray, np.ndarray]:
    """``(pi*, radius)``: the certified equilibrium and its l1 radius per context."""
    res = nash.regularized_equilibrium(game)
    if not res.converged:
        raise RuntimeError(f"reference equilibrium not certified: {res.message}")
    return np.asarray(res.policy), np.asarray(res.params["radius"])


def kl_atol(eq: np.ndarray, radius: np.ndarray, log_pi: np.ndarray, contexts: np.ndarray) -> float:
    r"""Absolute error of a computed :math:`\mathbb E_x\mathrm{KL}(\pi^*\|\pi_k)` using the
    reference ``eq`` (within l1 ``radius`` of the true equilibrium) instead of :math:`\pi^*`.

    * Reference: :math:`\mathrm{KL}(\pi^*\|q) - \mathrm{KL}(\hat\pi\|q) = \langle\pi^* - \hat\pi,
      \log\hat\pi - \log q\rangle + \mathrm{KL}(\pi^*\|\hat\pi)`, at most
      :math:`\tfrac{\delta}2\mathrm{span}(\log\hat\pi - \log q) + \delta^2` (the last from
      :math:`\beta J \le r\delta`, ``J`` the symmetrised KL; see
      :func:`theory_rl.algorithms.nash.equilibrium_certificate`).
    * Round-off of the sum :math:`\sum p(\log p - \log q)`: each log is correct to 1 ulp, the
      subtraction and product add 2 eps, summation adds ``Y eps`` times the absolute sum:
      :math:`4\epsilon\sum p(|\log p| + |\log q|) + Y\epsilon\sum p|\log p - \log q|`.
    """
    log_eq = np.log(eq)
    d = log_eq - log_pi
    ref_err = 0.5 * radius * (d.max(axis=-1) - d.min(axis=-1)) + radius**2
    Y = eq.shape[-1]
    roundoff = 4 * EPS * (eq * (np.abs(log_eq) + np.abs(log_pi))).sum(-1)
    roundoff = roundoff + Y * EPS * (eq * np.abs(d)).sum(-1)
    return float(((ref_err + roundoff) * contexts).sum())

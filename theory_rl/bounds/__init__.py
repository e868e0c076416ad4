"""The papers' theorems as functions, and the tools that check measurements against them.

* :mod:`theory_rl.bounds.rates` -- :func:`check_bound`, :func:`fit_rate`, :class:`Verdict`.
* :mod:`theory_rl.bounds.mdp_constants` -- exact problem constants (mismatch coefficients,
  Xiao's vartheta_rho, concentrability, value range, effective horizon, round-off floor).
* One module per paper, named after it (:mod:`theory_rl.bounds.puterman1994`, ...), returning
  each stated bound as a number or an array over iterations.  No algorithm code lives here.
"""

from theory_rl.bounds.rates import BoundCheck, RateFit, Verdict, check_bound, fit_rate

__all__ = ["BoundCheck", "RateFit", "Verdict", "check_bound", "fit_rate"]

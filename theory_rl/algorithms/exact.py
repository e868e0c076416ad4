r"""The exact solution every driver and claim compares against, computed once.

:func:`reference` returns a :class:`Reference`: the optimal values :math:`V^*_\tau` ``(S,)``,
action values :math:`Q^*_\tau` ``(S, A)``, an optimal policy :math:`\pi^*_\tau` ``(S, A)``, its
discounted occupancy :math:`d_\rho^{\pi^*}` ``(S,)`` and a certified error bound.  A sequence of
``B`` MDPs of equal ``(S, A)`` gives arrays with a leading ``(B,)`` axis.

* ``tau = 0`` (unregularised): policy iteration with exact (LU) evaluation; ``error`` is the
  a-posteriori bound :math:`\|TV - V\|_\infty/(1-\gamma) \ge \|V - V^*\|_\infty`.
* ``tau > 0`` (regularised, :math:`V^\pi_\tau = \mathbb E\sum_t\gamma^t(r - \tau h(\pi_{s_t}))`
  with ``h`` from :data:`~theory_rl.algorithms.mirror.REGULARIZERS`): regularised policy
  iteration :math:`\pi \leftarrow \arg\min_p h(p) - \langle Q^\pi_\tau/\tau, p\rangle` with
  exact evaluation (GPMD with :math:`\eta = \infty`, a :math:`\gamma`-contraction; for the
  entropy it is soft policy iteration, Cen et al. 2022) until :math:`Q` stops changing;
  ``error`` is :math:`\|T_\tau Q - Q\|_\infty/(1-\gamma) \ge \|Q - Q^*_\tau\|_\infty` with
  :math:`(T_\tau Q)(s,a) = r + \gamma P\max_p(\langle Q, p\rangle - \tau h(p))`.

Every driver accepts ``reference=`` (a :class:`Reference` for its MDP, ``tau`` and
regulariser) so that a sweep computes it once per instance; without it the driver calls
:func:`reference` itself, which gives the same numbers.

:class:`ExactEvaluator` is the dense batched exact policy evaluation the drivers share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from theory_rl._checks import as_int, as_positive
from theory_rl.algorithms.mirror import (
    LOG_FLOOR,
    REGULARIZERS,
    regularizer_argmin,
    regularizer_value,
)
from theory_rl.backend import array_namespace, resolve_device
from theory_rl.backend import to_numpy as _np
from theory_rl.mdps.tabular import TabularMDP

#: Probabilities below eps**2 are dropped before exact evaluation; see
#: :meth:`ExactEvaluator.flush_subnormal`.
_FLUSH = float(np.finfo(np.float64).eps) ** 2

__all__ = ["DeviceReference", "ExactEvaluator", "Reference", "reference", "regularized_optimum"]


def _mdps(mdp: Any) -> tuple[list[TabularMDP], bool]:
    single = isinstance(mdp, TabularMDP)
    mdps = [mdp] if single else list(mdp) if isinstance(mdp, Sequence) else []
    if not mdps or not all(isinstance(m, TabularMDP) for m in mdps):
        raise ValueError("mdp must be a TabularMDP or a non-empty sequence of them")
    S, A = mdps[0].n_states, mdps[0].n_actions
    if any((m.n_states, m.n_actions) != (S, A) for m in mdps):
        raise ValueError("mdp: all MDPs of a batch must have the same (S, A)")
    return mdps, single


def _rho(mdps: list[TabularMDP], rho: Any) -> np.ndarray:
    """``(Bm, S)`` performance distributions: each MDP's own, or ``rho`` broadcast."""
    S = mdps[0].n_states
    if rho is None:
        return np.stack([m.initial_distribution for m in mdps])
    arr = np.asarray(_np(rho))
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"rho must be a real array of shape ({S},), got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape not in ((S,), (len(mdps), S)):
        raise ValueError(f"rho must have shape ({S},) or ({len(mdps)}, {S}), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(np.abs(arr.sum(-1) - 1) > 1e-8):
        raise ValueError("rho must be a probability distribution over the S states")
    return np.array(np.broadcast_to(arr, (len(mdps), S)))


class ExactEvaluator:
    """Dense arrays of one MDP or a batch of equal-shape MDPs on one device.

    ``P`` ``(Bm, S, A, S)``, ``r`` ``(Bm, S, A)``, ``gamma`` ``(Bm,)``, ``rho`` ``(Bm, S)``;
    ``single`` is True when one MDP (not a sequence) was given.
    """

    def __init__(
        self, mdp: TabularMDP | Sequence[TabularMDP], device: str | None = None, rho: Any = None
    ):
        self.mdps, self.single = _mdps(mdp)
        self.S, self.A = self.mdps[0].n_states, self.mdps[0].n_actions
        self.device = resolve_device(device)
        xp = self.xp = array_namespace(self.device)
        self.P = xp.asarray(np.stack([m.to_dense().transitions for m in self.mdps]))
        self.r = xp.asarray(np.stack([m.rewards for m in self.mdps]))
        self.gamma_np = np.array([m.gamma for m in self.mdps])
        self.gamma = xp.asarray(self.gamma_np)
        self.rho_np = _rho(self.mdps, rho)
        self.rho = xp.asarray(self.rho_np)
        self.eye = xp.eye(self.S)

    def evaluate(self, pi: Any, penalty: Any = None) -> tuple[Any, Any]:
        r"""``(V (B, S), Q (B, S, A))`` of ``pi`` ``(B, S, A)`` (``B`` a multiple of ``Bm``
        or broadcastable to it).

        ``penalty`` ``(B, S)`` is subtracted from :math:`r_\pi` (regularised values
        :math:`V_\tau = (I-\gamma P_\pi)^{-1}(r_\pi - \tau h(\pi))`).
        """
        xp = self.xp
        g = self.gamma[:, None, None]
        pi = self.flush_subnormal(pi)
        r_pi = xp.sum(pi * self.r, axis=-1)
        if penalty is not None:
            r_pi = r_pi - penalty
        v = xp.linalg.solve(self.eye - g * self.policy_matrix(pi), r_pi[..., None])[..., 0]
        return v, self.action_values(v)

    def flush_subnormal(self, pi: Any) -> Any:
        r"""``pi`` with probabilities below :math:`\epsilon^2 = 4.9\cdot10^{-32}` set to 0.

        Iterates of fast-converging methods drift towards tiny probabilities
        (``exp(log pi)`` far below 1e-300), and the LU factorisation of
        :math:`I - \gamma P_\pi` then multiplies tiny entries into subnormal numbers, whose
        arithmetic is an order of magnitude slower on x86: natural policy gradient on an
        S = 2000 garnet took 0.14 s per iteration at k = 10 and 0.40 s at k = 100.  Dropping
        entries below :math:`\epsilon^2` changes each entry of :math:`P_\pi` and
        :math:`r_\pi` by less than :math:`A\epsilon^2\max(1, |r|)`, far below the float64
        resolution of the O(1) entries they are added to (the values move by less than
        :math:`A\epsilon^2\max|r|/(1-\gamma)^2`, negligible against
        :func:`~theory_rl.bounds.mdp_constants.value_error_floor`).
        """
        return self.xp.where(pi < _FLUSH, 0.0, pi)

    def policy_matrix(self, pi: Any) -> Any:
        r""":math:`P_\pi[s, t] = \sum_a \pi(a|s) P(t|s, a)`: ``(B, S, A) -> (B, S, S)``."""
        return self.xp.matmul(pi[..., None, :], self.P)[..., 0, :]

    def action_values(self, v: Any) -> Any:
        r""":math:`Q = r + \gamma P v`: ``(B, S) -> (B, S, A)``."""
        xp = self.xp
        pv = xp.matmul(self.P, v[..., None, :, None])[..., 0]
        return self.r + self.gamma[:, None, None] * pv

    def occupancy(self, pi: Any) -> Any:
        r""":math:`d_\rho^\pi = (1-\gamma)(I - \gamma P_\pi^\top)^{-1}\rho`, ``(B, S)``."""
        xp = self.xp
        g = self.gamma[:, None, None]
        M = self.eye - g * self.policy_matrix(self.flush_subnormal(pi))
        transpose = getattr(xp, "matrix_transpose", None)  # array API; CuPy: swapaxes
        M = transpose(M) if transpose else xp.swapaxes(M, -1, -2)
        return (1.0 - self.gamma[:, None]) * xp.linalg.solve(M, self.rho[..., None])[..., 0]


class DeviceReference(NamedTuple):
    """A :class:`Reference`'s batched arrays on a device: ``values`` ``(B, S)``, ``q_values``,
    ``policy``, ``log_policy`` ``(B, S, A)``, ``occupancy`` ``(B, S)``."""

    values: Any
    q_values: Any
    policy: Any
    log_policy: Any
    occupancy: Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reference:
    """The exact (regularised) solution of one MDP or a batch (leading ``(B,)`` axis).

    Attributes:
        values: :math:`V^*_\\tau` ``([B,] S)``.
        q_values: :math:`Q^*_\\tau` ``([B,] S, A)``.
        policy: :math:`\\pi^*_\\tau` ``([B,] S, A)``.
        occupancy: :math:`d_\\rho^{\\pi^*}` ``([B,] S)``.
        error: certified bound on :math:`\\|Q - Q^*_\\tau\\|_\\infty` (and on
            :math:`\\|V - V^*\\|_\\infty`) ``([B,])`` (module docstring).
        rho: ``([B,] S)`` the distribution of ``occupancy``.
        tau: regularisation weight (``0``: unregularised).
        regularizer: the ``h`` of ``tau > 0`` (``None`` when ``tau = 0``).
    """

    values: np.ndarray
    q_values: np.ndarray
    policy: np.ndarray
    occupancy: np.ndarray
    error: np.ndarray
    rho: np.ndarray
    tau: float = 0.0
    regularizer: str | None = None

    def __post_init__(self) -> None:
        for f in ("values", "q_values", "policy", "occupancy", "error", "rho"):
            arr = np.array(getattr(self, f), dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, f, arr)

    @property
    def batched(self) -> bool:
        return self.policy.ndim == 3

    def batch(self) -> Reference:
        """The same reference with a leading batch axis (``(1, ...)`` for a single MDP)."""
        if self.batched:
            return self
        return dataclasses.replace(
            self,
            **{
                f: getattr(self, f)[None]
                for f in ("values", "q_values", "policy", "occupancy", "error", "rho")
            },
        )

    def on(self, xp: Any) -> DeviceReference:
        """The batched arrays in namespace ``xp`` (NumPy or CuPy), with ``log_policy``."""
        ref = self.batch()
        with np.errstate(divide="ignore"):
            log_pi = np.maximum(np.log(ref.policy), LOG_FLOOR)
        return DeviceReference(
            values=xp.asarray(ref.values),
            q_values=xp.asarray(ref.q_values),
            policy=xp.asarray(ref.policy),
            log_policy=xp.asarray(log_pi),
            occupancy=xp.asarray(ref.occupancy),
        )

    def check(
        self, evaluator: ExactEvaluator, *, tau: float = 0.0, regularizer: str | None = None
    ) -> Reference:
        """This reference, batched, after checking it matches the problem; ``ValueError``
        naming ``reference`` otherwise."""
        ref = self.batch()
        want = (len(evaluator.mdps), evaluator.S, evaluator.A)
        if ref.q_values.shape != want:
            raise ValueError(
                f"reference has q_values of shape {ref.q_values.shape}, expected {want} "
                "(one per MDP of the run)"
            )
        if ref.tau != float(tau) or (tau > 0 and ref.regularizer != regularizer):
            raise ValueError(
                f"reference is for tau={ref.tau}, regularizer={ref.regularizer!r}; the run "
                f"uses tau={float(tau)}, regularizer={regularizer!r}"
            )
        if not np.allclose(ref.rho, evaluator.rho_np, rtol=0, atol=1e-12):
            raise ValueError("reference was computed for another rho than the run's")
        return ref


def _unregularized(m: TabularMDP, rho: np.ndarray) -> tuple:
    """Sparse-friendly: policy iteration, Q, residual and occupancy through :mod:`dp`."""
    from theory_rl.algorithms import dp

    res = dp.policy_iteration(m, evaluation="direct")
    if not res.converged:
        raise RuntimeError(f"reference: policy iteration did not converge: {res.message}")
    v, pi = np.asarray(res.values), np.asarray(res.policy, dtype=np.float64)
    q = np.asarray(dp.q_values(m, v))
    error = float(np.abs(q.max(axis=-1) - v).max()) / (1.0 - m.gamma)
    return v, q, pi, np.asarray(dp.occupancy_measure(m, pi, rho)), error


def _regularized(
    m: TabularMDP, rho: np.ndarray, tau: float, regularizer: str, max_iterations: int
) -> tuple:
    if m.has_infeasible_actions:
        raise ValueError(
            "mdp has infeasible actions (action_mask); regularised references (tau > 0) need "
            "every action available"
        )
    ev = ExactEvaluator(m, "cpu", rho)
    pi = np.full((1, ev.S, ev.A), 1.0 / ev.A)
    q_prev = None
    scale = 1e-14 * max(1.0, float(np.abs(m.rewards).max()) / (1.0 - m.gamma))
    for _ in range(max_iterations):
        _, q = ev.evaluate(pi, tau * regularizer_value(pi, regularizer))
        pi = regularizer_argmin(q / tau, regularizer)
        if q_prev is not None and np.abs(q - q_prev).max() <= scale:
            break
        q_prev = q
    v, q = ev.evaluate(pi, tau * regularizer_value(pi, regularizer))
    soft_v = (pi * q).sum(-1) - tau * regularizer_value(pi, regularizer)  # max_p <q,p> - tau h
    tq = ev.r + ev.gamma[:, None, None] * np.einsum("bsat,bt->bsa", ev.P, soft_v)
    error = float(np.abs(tq - q).max()) / (1.0 - m.gamma)
    return v[0], q[0], pi[0], ev.occupancy(pi)[0], error


def reference(
    mdp: TabularMDP | Sequence[TabularMDP],
    *,
    tau: float = 0.0,
    regularizer: str | None = None,
    rho: Any = None,
    max_iterations: int = 10_000,
) -> Reference:
    r"""The exact solution of ``mdp`` (module docstring), batched over a sequence of MDPs.

    Args:
        mdp: a :class:`TabularMDP` or a sequence of ``B`` with equal ``(S, A)``.
        tau: regularisation weight ``>= 0``.
        regularizer: ``"entropy"`` (default when ``tau > 0``), ``"tsallis"`` or
            ``"log_barrier"``; must be omitted when ``tau = 0``.
        rho: ``(S,)`` (or ``(B, S)``) distribution of the occupancy; each MDP's
            ``initial_distribution`` if omitted.
        max_iterations: cap of regularised policy iteration (``tau > 0``).

    Returns:
        :class:`Reference`, arrays ``([B,] ...)``.

    Example:
        >>> from theory_rl.mdps import bandit
        >>> ref = reference(bandit([1.0, 0.5], gamma=0.5))
        >>> ref.policy.tolist(), float(ref.values[0])
        ([[1.0, 0.0]], 2.0)
    """
    tau = as_positive("tau", tau, allow_zero=True)
    max_iterations = as_int("max_iterations", max_iterations)
    if tau == 0 and regularizer is not None:
        raise ValueError("regularizer needs tau > 0 (tau = 0 is the unregularised problem)")
    if tau > 0:
        regularizer = "entropy" if regularizer is None else regularizer
        if regularizer not in REGULARIZERS:
            raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    mdps, single = _mdps(mdp)
    rhos = _rho(mdps, rho)
    parts = [
        _regularized(m, r, tau, regularizer, max_iterations) if tau > 0 else _unregularized(m, r)
        for m, r in zip(mdps, rhos, strict=True)
    ]
    v, q, pi, d, err = (np.stack(x) for x in zip(*parts, strict=True))
    ref = Reference(
        values=v,
        q_values=q,
        policy=pi,
        occupancy=d,
        error=err,
        rho=rhos,
        tau=tau,
        regularizer=regularizer,
    )
    if single:
        return dataclasses.replace(
            ref,
            **{
                f: getattr(ref, f)[0]
                for f in ("values", "q_values", "policy", "occupancy", "error", "rho")
            },
        )
    return ref


def regularized_optimum(
    mdp: TabularMDP | Sequence[TabularMDP],
    *,
    tau: float,
    regularizer: str = "entropy",
    rho: Any = None,
) -> Reference:
    r""":func:`reference` of the regularised problem (``tau > 0``)."""
    if not as_positive("tau", tau) > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    return reference(mdp, tau=tau, regularizer=regularizer, rho=rho)

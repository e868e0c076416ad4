"""The generic (CuPy-ready) array path runs on the strict array-API namespace.

``array_api_strict`` refuses everything NumPy allows beyond the standard (array methods such as
``x.sum()``, ``einsum``, implicit dtype casts, mixing namespaces), so code that runs on NumPy
only because NumPy is lenient fails here, without a GPU.  Each function is run on strict arrays
and compared with its NumPy result.
"""

from __future__ import annotations

import numpy as np
import pytest

import theory_rl as trl
from theory_rl.algorithms import distributional, metrics, mirror
from theory_rl.algorithms.exact import ExactEvaluator, reference
from theory_rl.backend import namespace_of
from theory_rl.mdps import garnet

xps = pytest.importorskip("array_api_strict")

RNG = np.random.default_rng(0)
B, S, A = 2, 4, 3


def _policy(shape=(B, S, A)) -> np.ndarray:
    p = RNG.uniform(0.1, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


LOG_P, LOG_Q = np.log(_policy()), np.log(_policy())
SCORES = RNG.normal(size=(B, S, A))
ETA = np.full((B, 1, 1), 0.7)
PREF = RNG.uniform(size=(B, S, A, A))
PREF = PREF / (PREF + np.swapaxes(PREF, -1, -2))  # P(y > y') + P(y' > y) = 1
LAW_U, LAW_V = RNG.normal(size=(B, S, 5)), RNG.normal(size=(B, S, 4))
LAW_P = _policy((B, S, 5))

CASES = {
    "logsumexp": (mirror.logsumexp, (SCORES,), {}),
    "log_normalize": (mirror.log_normalize, (SCORES,), {}),
    "kl_log": (mirror.kl_log, (LOG_P, LOG_Q), {}),
    "kl_prox_log": (mirror.kl_prox_log, (LOG_P, SCORES, ETA), {}),
    "kl_prox": (mirror.kl_prox, (np.exp(LOG_P), SCORES, ETA), {}),
    "regularized_prox_log": (
        mirror.regularized_prox_log,
        (LOG_P, SCORES),
        {"eta": ETA, "tau": 0.3, "log_reference": LOG_Q},
    ),
    "geometric_mixture_log": (
        lambda a, b: mirror.geometric_mixture_log([a, b], [0.25, 0.75]),
        (LOG_P, LOG_Q),
        {},
    ),
    "project_simplex": (mirror.project_simplex, (SCORES,), {}),
    "euclidean_prox": (mirror.euclidean_prox, (np.exp(LOG_P), SCORES, ETA), {}),
    "bregman_kl": (mirror.bregman_divergence, (np.exp(LOG_P), np.exp(LOG_Q)), {}),
    "bregman_euclidean": (
        mirror.bregman_divergence,
        (np.exp(LOG_P), np.exp(LOG_Q)),
        {"mirror": "euclidean"},
    ),
    **{
        f"regularizer_argmin_{h}": (mirror.regularizer_argmin, (SCORES,), {"regularizer": h})
        for h in mirror.REGULARIZERS
    },
    **{
        f"regularizer_value_{h}": (mirror.regularizer_value, (np.exp(LOG_P),), {"regularizer": h})
        for h in mirror.REGULARIZERS
    },
    **{
        f"regularizer_gradient_{h}": (
            mirror.regularizer_gradient,
            (np.exp(LOG_P),),
            {"regularizer": h},
        )
        for h in mirror.REGULARIZERS
    },
    "gap": (metrics.gap, (SCORES[..., 0], SCORES[..., 1], np.exp(LOG_P)[..., 0]), {}),
    "sup_gap": (metrics.sup_gap, (SCORES[..., 0], SCORES[..., 1]), {}),
    "kl_to_opt": (metrics.kl_to_opt, (LOG_P, LOG_Q, np.exp(LOG_P)[..., 0]), {}),
    "max_kl_to_opt": (metrics.max_kl_to_opt, (LOG_P, LOG_Q), {}),
    "divergence_to_opt": (
        metrics.divergence_to_opt,
        (np.exp(LOG_P), np.exp(LOG_Q), np.exp(LOG_P)[..., 0]),
        {"mirror": "euclidean"},
    ),
    "q_error": (metrics.q_error, (SCORES, LOG_P), {}),
    # the families' pure one-step functions
    "pmd_step_kl": (trl.pmd_step, (np.exp(LOG_P), SCORES), {"eta": ETA}),
    "pmd_step_euclidean": (
        trl.pmd_step,
        (np.exp(LOG_P), SCORES),
        {"eta": ETA, "mirror": "euclidean"},
    ),
    "adaptive_step_size": (trl.adaptive_step_size, (np.exp(LOG_P), SCORES), {"c": 0.5}),
    "gpmd_step": (trl.gpmd_step, (LOG_P, SCORES), {"eta": ETA, "tau": 0.1}),
    "npg_step": (trl.npg_step, (np.exp(LOG_P), SCORES), {"eta": ETA, "gamma": 0.9}),
    "entropy_npg_step": (
        trl.entropy_npg_step,
        (np.exp(LOG_P), SCORES),
        {"eta": 0.05, "tau": 0.1, "gamma": 0.9},
    ),
    "projected_pg_step": (trl.projected_pg_step, (np.exp(LOG_P), SCORES), {"eta": ETA}),
    "nash_mp_step": (
        lambda *a, **k: trl.nash_mp_step(*a, **k).log_next,
        (LOG_P, PREF, LOG_Q),
        {"beta": 0.1, "eta": 1.0},
    ),
    "omd_step": (trl.omd_step, (LOG_P, PREF, LOG_Q), {"beta": 0.1, "eta": 1.0}),
    "nash_md_step": (trl.nash_md_step, (LOG_P, PREF, LOG_Q), {"beta": 0.1, "eta": 0.5}),
    "log_policy_error": (metrics.log_policy_error, (LOG_P, LOG_Q), {}),
    # distributional: exact metrics between finite laws, CVaR, projections
    "cramer_distance": (distributional.cramer_distance, (LAW_U, LAW_V, LAW_P), {}),
    "wasserstein_w1": (distributional.wasserstein_distance, (LAW_U, LAW_V, LAW_P), {}),
    "wasserstein_winf": (
        distributional.wasserstein_distance,
        (LAW_U, LAW_V, LAW_P),
        {"order": "inf"},
    ),
    "cvar": (distributional.cvar, (LAW_U, LAW_P), {"alpha": 0.3}),
    "quantile_projection": (
        distributional.quantile_projection,
        (LAW_U, LAW_P),
        {"n_quantiles": 7},
    ),
    "categorical_projection": (
        distributional.categorical_projection,
        (LAW_U, LAW_P),
        {"support": [-2.0, -1.0, 0.0, 1.0, 2.0]},
    ),
}


def _strict(x):
    return xps.asarray(x) if isinstance(x, np.ndarray) else x


def _host(x):
    return np.asarray(x) if not isinstance(x, tuple) else tuple(np.asarray(y) for y in x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_generic_function_runs_on_strict_namespace(name):
    fn, args, kwargs = CASES[name]
    want = fn(*args, **kwargs)
    got = fn(*map(_strict, args), **{k: _strict(v) for k, v in kwargs.items()})
    assert namespace_of(got if not isinstance(got, tuple) else got[0]) is xps
    np.testing.assert_allclose(_host(got), want, rtol=1e-13, atol=1e-13)


def test_strict_namespace_catches_numpy_only_code():
    """The check has teeth: a NumPy-only idiom (an array method) fails on strict arrays."""
    x = xps.asarray(SCORES)
    with pytest.raises(AttributeError):
        x.sum(axis=-1)


def test_exact_evaluator_runs_on_strict_namespace():
    mdps = [garnet(S, A, 2, gamma=0.9, seed=s, sparse=False) for s in range(B)]
    ev = ExactEvaluator(mdps, "cpu")
    pi = _policy()
    v, q = ev.evaluate(pi)
    d = ev.occupancy(pi)
    for name in ("P", "r", "gamma", "rho", "eye"):
        setattr(ev, name, xps.asarray(getattr(ev, name)))
    ev.xp = xps
    sv, sq = ev.evaluate(xps.asarray(pi))
    np.testing.assert_allclose(np.asarray(sv), v, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(sq), q, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ev.occupancy(xps.asarray(pi))), d, rtol=1e-12)
    ref = reference(mdps).on(xps)
    out = metrics.policy_metrics(
        metrics.POLICY_METRICS,
        reference=ref,
        log_pi=xps.asarray(np.log(pi)),
        v=sv,
        q=sq,
        rho=ev.rho,
    )
    assert set(out) == set(metrics.POLICY_METRICS)
    assert all(namespace_of(x) is xps and x.shape == (B,) for x in out.values())


ROBUST_SETS = {
    "l1": lambda mdp: trl.L1Ball(0.3),
    "l1_full_support": lambda mdp: trl.L1Ball(0.3, support="full"),
    "kl_penalty": lambda mdp: trl.KLPenalty(0.5),
    "tv_penalty": lambda mdp: trl.TVPenalty(0.2),
    "finite": lambda mdp: trl.KernelSet(
        [garnet(mdp.n_states, mdp.n_actions, 3, seed=s, sparse=False).transitions for s in (5, 6)]
    ),
}


@pytest.mark.parametrize("name", sorted(ROBUST_SETS))
def test_robust_generic_path_runs_on_strict_namespace(name, monkeypatch):
    """The robust operators' generic path (the one ``device="gpu"`` takes) on strict arrays:
    sweeps, q-values, worst rows and policy steps equal the NumPy run of the same path, and
    robust VI through it equals robust VI through the CPU kernels (robust policy evaluation
    runs on the host: its linear solves are SciPy's)."""
    from theory_rl.algorithms import robust as R

    mdp = garnet(6, 3, 3, gamma=0.9, seed=1, sparse=False)
    unc = ROBUST_SETS[name](mdp)
    v = RNG.normal(size=mdp.n_states)
    actions = RNG.integers(mdp.n_actions, size=mdp.n_states)
    pi = _policy((mdp.n_states, mdp.n_actions))
    ref = R._RobustOperator(mdp, unc, "cpu", kernels=False)
    kernels = R.robust_value_iteration(mdp, unc, tol=1e-10)
    monkeypatch.setattr(R, "array_namespace", lambda device: xps)
    op = R._RobustOperator(mdp, unc, "cpu", kernels=False)
    sv = xps.asarray(v)
    for got, want in [
        (op.sweep(sv)[0], ref.sweep(v)[0]),
        (op.sweep(sv, xps.asarray(actions))[0], ref.sweep(v, actions)[0]),
        (op.q(sv), ref.q(v)),
        (op.worst(sv)[1], ref.worst(v)[1]),
        (op.policy_step(sv, xps.asarray(pi)), ref.policy_step(v, pi)),
    ]:
        assert namespace_of(got) is xps
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-13)
    monkeypatch.setattr(R, "USE_KERNELS", False)
    R._OPERATORS.pop(mdp, None)
    strict = R.robust_value_iteration(mdp, unc, tol=1e-10)
    np.testing.assert_allclose(np.asarray(strict.values), kernels.values, rtol=0, atol=1e-9)

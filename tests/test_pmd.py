"""PMD, GPMD and StaQ: steps against hand formulas, fixed points, batching, schedules, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dense_mdp

from theory_rl.algorithms import dp, pmd
from theory_rl.algorithms.exact import reference
from theory_rl.algorithms.mirror import regularized_prox_log
from theory_rl.mdps.generators import chain


@pytest.fixture(scope="module")
def mdp():
    return dense_mdp(8, 3, 0.9, seed=4)


def test_kl_step_equals_hand_formula():
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(4), size=5)
    q = rng.normal(size=(5, 4))
    hand = pi * np.exp(0.7 * q)
    hand /= hand.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(pmd.pmd_step(pi, q, eta=0.7, mirror="kl"), hand, rtol=1e-13)


def test_euclidean_step_equals_projection_by_hand():
    pi = np.array([[0.5, 0.3, 0.2]])
    q = np.array([[1.0, 0.0, -1.0]])
    # pi + 0.2 q = (0.7, 0.3, 0.0): already on the simplex
    np.testing.assert_allclose(
        pmd.pmd_step(pi, q, eta=0.2, mirror="euclidean"), [[0.7, 0.3, 0.0]], atol=1e-15
    )
    # pi + q = (1.5, 0.3, -0.8): theta = 0.5 -> (1, 0, 0)
    np.testing.assert_allclose(pmd.pmd_step(pi, q, eta=1.0, mirror="euclidean"), [[1, 0, 0]])


def test_euclidean_step_survives_huge_steps():
    pi = np.full((2, 3), 1 / 3)
    q = np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 2.0]])
    out = pmd.pmd_step(pi, q, eta=1e25, mirror="euclidean")
    np.testing.assert_allclose(out, [[1, 0, 0], [0, 0.5, 0.5]])


def test_greedy_policy_is_a_fixed_point(mdp):
    pi_star = dp.policy_iteration(mdp).policy
    q = dp.q_values(mdp, dp.policy_evaluation(mdp, pi_star))
    for mirror in pmd.MIRRORS:
        np.testing.assert_allclose(pmd.pmd_step(pi_star, q, eta=5.0, mirror=mirror), pi_star)


@pytest.mark.parametrize("mirror", pmd.MIRRORS)
@pytest.mark.parametrize("schedule", pmd.SCHEDULES)
def test_monotone_improvement_and_convergence(mdp, mirror, schedule):
    res = pmd.policy_mirror_descent(mdp, eta=1.0, mirror=mirror, schedule=schedule, n_iterations=80)
    gap = res.history["gap"]
    assert gap.shape == (81,) and np.all(np.diff(gap) <= 1e-12)  # exact PMD improves
    assert gap[-1] <= 1e-2 * gap[0]
    assert res.n_iterations == 80 and not res.converged  # a fixed budget is not convergence
    assert res.policy.shape == (8, 3) and not res.policy.flags.writeable
    np.testing.assert_allclose(res.policy.sum(axis=1), 1.0)


def test_batch_of_step_sizes_equals_separate_runs(mdp):
    etas = np.array([0.1, 1.0, 10.0])
    batch = pmd.policy_mirror_descent(mdp, eta=etas, mirror="euclidean", n_iterations=20)
    assert batch.history["gap"].shape == (3, 21) and batch.policy.shape == (3, 8, 3)
    for i, e in enumerate(etas):
        one = pmd.policy_mirror_descent(mdp, eta=e, mirror="euclidean", n_iterations=20)
        np.testing.assert_allclose(batch.history["gap"][i], one.history["gap"], atol=1e-12)
        np.testing.assert_allclose(batch.policy[i], one.policy, atol=1e-12)


def test_batch_of_instances(mdp):
    other = dense_mdp(8, 3, 0.8, seed=5)
    batch = pmd.policy_mirror_descent([mdp, other], eta=1.0, schedule="geometric", n_iterations=15)
    for i, m in enumerate((mdp, other)):
        one = pmd.policy_mirror_descent(m, eta=1.0, schedule="geometric", n_iterations=15)
        np.testing.assert_allclose(batch.history["sup_gap"][i], one.history["sup_gap"], atol=1e-12)


def test_geometric_schedule_and_recorded_steps(mdp):
    res = pmd.policy_mirror_descent(mdp, eta=0.5, schedule="geometric", n_iterations=5)
    np.testing.assert_allclose(res.history["eta"][:5], 0.5 / 0.9 ** np.arange(5))
    assert np.isnan(res.history["eta"][5])


def test_adaptive_step_is_johnsons_minimum():
    pi = np.array([[[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]]])
    q = np.array([[[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]]])
    kl = pmd.adaptive_step_size(pi, q, c=0.5, mirror="kl")  # greedy sets {0, 2} and {1}
    np.testing.assert_allclose(kl, [max(-np.log(0.7), -np.log(0.2)) / 0.5])
    eu = pmd.adaptive_step_size(pi, q, c=1.0, mirror="euclidean")
    np.testing.assert_allclose(
        eu, [max(0.5 * (0.8**2 + 0.3**2 + 0.5**2), 0.5 * (0.6**2 + 0.8**2 + 0.2**2))]
    )


def test_kl_to_opt_matches_definition(mdp):
    res = pmd.policy_mirror_descent(mdp, eta=1.0, n_iterations=3)
    pi_star = dp.policy_iteration(mdp).policy
    d = dp.occupancy_measure(mdp, pi_star)
    assert res.history["kl_to_opt"][0] == pytest.approx(np.log(3), rel=1e-12)
    kl = (d * (pi_star * np.log(np.where(pi_star > 0, pi_star / res.policy, 1))).sum(1)).sum()
    assert res.history["kl_to_opt"][-1] == pytest.approx(kl, rel=1e-9)


def test_inexact_q_respects_the_error_level(mdp):
    seen = []
    for model in ("uniform", "adversarial", "fixed"):
        res = pmd.policy_mirror_descent(
            mdp, eta=1.0, n_iterations=30, q_error=0.05, q_error_model=model, seed=0
        )
        seen.append(res.history["sup_gap"][-1])
    assert all(np.isfinite(seen))
    a = pmd.policy_mirror_descent(mdp, eta=1.0, n_iterations=5, q_error=0.1, seed=3)
    b = pmd.policy_mirror_descent(mdp, eta=1.0, n_iterations=5, q_error=0.1, seed=3)
    np.testing.assert_array_equal(a.history["gap"], b.history["gap"])


def test_sampled_pmd_counts_samples_and_is_seeded(mdp):
    kw = dict(eta=1.0, n_iterations=4, q_estimator="rollout", n_rollouts=3, horizon=5, seed=1)
    a = pmd.policy_mirror_descent(mdp, **kw)
    b = pmd.policy_mirror_descent(mdp, **kw)
    np.testing.assert_array_equal(a.history["gap"], b.history["gap"])
    np.testing.assert_array_equal(a.history["samples"], np.arange(5) * 8 * 3 * 3 * 4)
    c = pmd.policy_mirror_descent(mdp, **kw, record=("gap",))  # same stream without "eta"
    np.testing.assert_array_equal(a.history["gap"], c.history["gap"])
    g = pmd.policy_mirror_descent(mdp, **{**kw, "q_estimator": "generative"})
    assert g.history["samples"][-1] == 4 * 8 * 3 * 3


def test_callback_stops_and_tol(mdp):
    calls = []

    def cb(r):
        calls.append(r.n_iterations)
        if r.n_iterations == 3:
            raise StopIteration

    res = pmd.policy_mirror_descent(mdp, n_iterations=50, callback=cb)
    assert calls == [0, 1, 2, 3] and res.n_iterations == 3 and not res.converged
    res = pmd.policy_mirror_descent(mdp, schedule="adaptive", eta=0.0, n_iterations=500, tol=1e-8)
    assert res.converged and res.history["sup_gap"][-1] <= 1e-8 and res.n_iterations < 500
    assert res.history["sup_gap"].shape == (res.n_iterations + 1,)
    res = pmd.generalized_policy_mirror_descent(mdp, eta=5.0, tau=0.5, n_iterations=500, tol=1e-9)
    assert res.converged and res.history["q_error"][-1] <= 1e-9 < res.history["q_error"][-2]
    fixed = pmd.generalized_policy_mirror_descent(mdp, eta=5.0, tau=0.5, n_iterations=5)
    assert not fixed.converged


def test_cost_per_iteration_does_not_grow_with_k(mdp):
    """History is preallocated: 4x the iterations cost about 4x the time, not 16x."""
    import time

    def run(k):
        t = time.perf_counter()
        pmd.policy_mirror_descent(mdp, n_iterations=k)
        return time.perf_counter() - t

    run(10)
    short, long = min(run(100) for _ in range(3)), min(run(400) for _ in range(3))
    assert long < 8 * short, (short, long)


def test_given_reference_gives_the_same_numbers(mdp):
    ref = reference(mdp)
    a = pmd.policy_mirror_descent(mdp, n_iterations=10, reference=ref)
    b = pmd.policy_mirror_descent(mdp, n_iterations=10)
    for key in a.history:
        np.testing.assert_array_equal(a.history[key], b.history[key])
    soft = reference(mdp, tau=0.3, regularizer="tsallis")
    a = pmd.generalized_policy_mirror_descent(
        mdp, tau=0.3, regularizer="tsallis", n_iterations=10, reference=soft
    )
    b = pmd.generalized_policy_mirror_descent(mdp, tau=0.3, regularizer="tsallis", n_iterations=10)
    np.testing.assert_array_equal(a.history["q_error"], b.history["q_error"])
    with pytest.raises(ValueError, match="reference"):  # wrong tau
        pmd.generalized_policy_mirror_descent(mdp, tau=0.5, regularizer="tsallis", reference=soft)
    with pytest.raises(ValueError, match="reference"):  # unregularised one for GPMD
        pmd.generalized_policy_mirror_descent(mdp, tau=0.3, reference=ref)
    with pytest.raises(ValueError, match="reference"):  # another MDP's
        pmd.policy_mirror_descent(dense_mdp(5, 3, 0.9, seed=1), reference=ref)
    with pytest.raises(ValueError, match="reference"):
        pmd.policy_mirror_descent(mdp, reference=(ref.q_values, ref.policy, 0.0))


def test_gpmd_records_max_kl_and_is_seeded_and_params(mdp):
    res = pmd.generalized_policy_mirror_descent(
        mdp, eta=1.0, tau=0.2, n_iterations=5, record=("max_kl_to_opt", "kl_to_opt"), seed=3
    )
    pi_star = reference(mdp, tau=0.2, regularizer="entropy").policy
    kl = (pi_star * np.log(pi_star / res.policy)).sum(-1)
    assert res.history["max_kl_to_opt"][-1] == pytest.approx(kl.max(), rel=1e-9)
    assert res.history["kl_to_opt"][-1] < res.history["max_kl_to_opt"][-1]
    assert (
        res.seed == 3
        and res.params["device"] == "cpu"
        and res.params["record"]
        == (
            "max_kl_to_opt",
            "kl_to_opt",
        )
    )
    with pytest.raises(ValueError, match="record"):
        pmd.generalized_policy_mirror_descent(mdp, record=("samples",))


def test_gpmd_entropy_staq_and_the_regularised_prox_agree(mdp):
    """GPMD-entropy = the regularised prox with the same (eta, tau) and uniform mu; StaQ = the
    same prox applied to the centre xi_k - alpha beta^(M-1) q_(k-M) (its finite-memory sum)."""
    rng = np.random.default_rng(5)
    log_pi = np.log(rng.dirichlet(np.ones(3), size=(2, 8)))
    q = rng.normal(size=(2, 8, 3))
    eta, tau = np.array([0.4, 3.0])[:, None, None], 0.3
    _, xi = pmd.gpmd_step(log_pi, q, eta=eta, tau=tau)
    prox = regularized_prox_log(log_pi, q, eta=eta, tau=tau)
    np.testing.assert_allclose(np.exp(xi), np.exp(prox), atol=1e-15)
    uniform = np.full_like(log_pi, -np.log(3))
    np.testing.assert_allclose(
        prox, regularized_prox_log(log_pi, q, eta=eta, tau=tau, log_reference=uniform), atol=1e-14
    )
    # StaQ's iterates equal softmax of the truncated sum alpha sum_{i>k-M} beta^(k-i) q_i
    M, e = 3, 0.7
    alpha, beta = e / (1 + e * tau), 1 / (1 + e * tau)
    qs = []

    def keep_q(r):
        qs.append(np.array(r.q_values))

    res = pmd.staq_policy_mirror_descent(
        mdp, memory=M, eta=e, tau=tau, n_iterations=9, callback=keep_q
    )
    xi = sum(alpha * beta ** (8 - i) * qs[i] for i in range(9 - M, 9))
    hand = np.exp(xi - xi.max(-1, keepdims=True))
    np.testing.assert_allclose(res.policy, hand / hand.sum(-1, keepdims=True), atol=1e-13)
    # and a plausible bug (the expiring term dropped with weight alpha beta^M) is detected
    wrong = xi - alpha * beta**M * qs[9 - M - 1]
    bad = np.exp(wrong - wrong.max(-1, keepdims=True))
    assert np.abs(res.policy - bad / bad.sum(-1, keepdims=True)).max() > 1e-6


@pytest.mark.parametrize("regularizer", pmd.REGULARIZERS)
def test_regularizer_argmin_is_optimal(regularizer):
    """The argmin's KKT conditions: grad h(p) - xi is constant on the support."""
    xi = np.random.default_rng(1).normal(size=(4, 5))
    p = pmd.regularizer_argmin(xi, regularizer)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-13)
    if regularizer == "entropy":
        g = np.log(p) - xi
    elif regularizer == "log_barrier":
        g = -1 / p - xi
    else:
        g = np.where(p > 0, p - xi, np.nan)
        assert np.all((p > 0) | (-xi >= np.nanmax(g, axis=1, keepdims=True) - 1e-12))
    np.testing.assert_allclose(np.nanmax(g, 1) - np.nanmin(g, 1), 0.0, atol=1e-10)


def test_gpmd_entropy_step_equals_closed_form():
    rng = np.random.default_rng(2)
    pi = rng.dirichlet(np.ones(3), size=4)
    q = rng.normal(size=(4, 3))
    eta, tau = 0.7, 0.3
    new, _ = pmd.gpmd_step(np.log(pi), q, eta=eta, tau=tau)
    hand = pi ** (1 / (1 + eta * tau)) * np.exp(eta * q / (1 + eta * tau))
    np.testing.assert_allclose(new, hand / hand.sum(1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("regularizer", pmd.REGULARIZERS)
def test_gpmd_converges_to_the_regularised_optimum(mdp, regularizer):
    res = pmd.generalized_policy_mirror_descent(
        mdp, eta=5.0, tau=0.5, regularizer=regularizer, n_iterations=150
    )
    assert res.history["q_error"][-1] <= 1e-9
    assert res.params["reference_error"] <= 1e-10


def test_staq_with_long_memory_equals_gpmd_and_short_memory_is_biased(mdp):
    full = pmd.generalized_policy_mirror_descent(mdp, eta=1.0, tau=0.2, n_iterations=40)
    long = pmd.staq_policy_mirror_descent(mdp, memory=40, eta=1.0, tau=0.2, n_iterations=40)
    np.testing.assert_allclose(long.policy, full.policy, atol=1e-12)
    errs = [
        pmd.staq_policy_mirror_descent(mdp, memory=m, eta=1.0, tau=0.2, n_iterations=300).history[
            "q_error"
        ][-1]
        for m in (1, 4, 16, 64)
    ]
    assert errs[0] > errs[1] > errs[2] > errs[3]


def test_kl_pmd_survives_huge_adaptive_steps():
    res = pmd.policy_mirror_descent(
        chain(5), schedule="adaptive", eta=0.0, c0=1e-3, n_iterations=200
    )
    assert np.all(np.isfinite(res.history["gap"])) and res.history["sup_gap"][-1] < 1e-8


def test_bad_input_names_the_field(mdp):
    for kw, field in [
        ({"eta": -1.0}, "eta"),
        ({"eta": "1.0"}, "eta"),
        ({"tol": "0.1"}, "tol"),
        ({"q_error": "0.1"}, "q_error"),
        ({"mirror": "l2"}, "mirror"),
        ({"schedule": "cosine"}, "schedule"),
        ({"q_error": -0.1}, "q_error"),
        ({"q_error_model": "x"}, "q_error_model"),
        ({"q_estimator": "mc"}, "q_estimator"),
        ({"n_iterations": -1}, "n_iterations"),
        ({"record": ("nope",)}, "record"),
        ({"c0": 0.0}, "c0"),
        ({"initial_policy": np.ones((8, 3))}, "initial_policy"),
    ]:
        with pytest.raises(ValueError, match=field):
            pmd.policy_mirror_descent(mdp, **kw)
    with pytest.raises(ValueError, match="tau"):
        pmd.generalized_policy_mirror_descent(mdp, tau=0.0)
    with pytest.raises(ValueError, match="tau"):
        pmd.generalized_policy_mirror_descent(mdp, tau="0.1")
    with pytest.raises(ValueError, match="regularizer"):
        pmd.generalized_policy_mirror_descent(mdp, regularizer="renyi")
    with pytest.raises(ValueError, match="memory"):
        pmd.staq_policy_mirror_descent(mdp, memory=0)
    with pytest.raises(ValueError, match="mdp"):
        pmd.policy_mirror_descent("mdp")


@pytest.mark.gpu
def test_gpu_matches_cpu(mdp):
    for kw in (
        {"mirror": "kl", "schedule": "adaptive", "eta": 0.0},
        {"mirror": "euclidean", "schedule": "geometric", "eta": np.array([0.1, 1.0])},
    ):
        cpu = pmd.policy_mirror_descent(mdp, n_iterations=30, **kw)
        gpu = pmd.policy_mirror_descent(mdp, n_iterations=30, device="gpu", **kw)
        np.testing.assert_allclose(gpu.history["gap"], cpu.history["gap"], atol=1e-10)
    cpu = pmd.generalized_policy_mirror_descent(mdp, eta=1.0, n_iterations=30)
    gpu = pmd.generalized_policy_mirror_descent(mdp, eta=1.0, n_iterations=30, device="gpu")
    np.testing.assert_allclose(gpu.history["q_error"], cpu.history["q_error"], atol=1e-10)
    cpu = pmd.staq_policy_mirror_descent(mdp, memory=3, eta=[0.5, 2.0], n_iterations=30)
    gpu = pmd.staq_policy_mirror_descent(
        mdp, memory=3, eta=[0.5, 2.0], n_iterations=30, device="gpu"
    )
    np.testing.assert_allclose(gpu.history["q_error"], cpu.history["q_error"], atol=1e-10)
    kw = dict(n_iterations=5, q_estimator="rollout", n_rollouts=2, horizon=4, seed=1)
    cpu = pmd.policy_mirror_descent(mdp, **kw)
    gpu = pmd.policy_mirror_descent(mdp, device="gpu", **kw)
    np.testing.assert_allclose(gpu.history["gap"], cpu.history["gap"], atol=1e-10)

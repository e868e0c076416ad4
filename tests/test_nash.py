"""Nash algorithms: steps equal the hand formulas, fixed points, ground truth, rates, GPU."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from theory_rl.algorithms import mirror, nash
from theory_rl.backend import cupy_available
from theory_rl.bounds import tiapkin2025
from theory_rl.mdps.games import PreferenceGame, cyclic_preference_game, random_preference_game


@pytest.fixture
def game():
    return random_preference_game(7, beta=0.2, n_contexts=2, seed=11)


def logs(game):
    return np.log(game.reference_policy), game.preferences


# ------------------------------------------------------------------ steps vs hand formulas
def test_nash_mp_step_equals_the_closed_form(game):
    lr, P = logs(game)
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(7), size=2)
    beta, eta = 0.2, 1.5
    half = softmax(
        (eta * P @ pi[..., None])[..., 0] / (1 + eta * beta)
        + (eta * beta * lr + np.log(pi)) / (1 + eta * beta),
        axis=-1,
    )
    nxt = softmax(
        (eta * (P @ half[..., None])[..., 0] + eta * beta * lr + np.log(pi)) / (1 + eta * beta),
        axis=-1,
    )
    step = nash.nash_mp_step(np.log(pi), P, lr, beta=beta, eta=eta)
    np.testing.assert_allclose(np.exp(step.log_half), half, rtol=1e-12)
    np.testing.assert_allclose(np.exp(step.log_next), nxt, rtol=1e-12)


def test_prox_step_is_the_argmax_of_its_objective(game):
    """The regularised prox maximises eta<q,pi> - eta beta KL(pi||ref) - KL(pi||c)."""
    lr, _ = logs(game)
    rng = np.random.default_rng(1)
    c, q = rng.dirichlet(np.ones(7)), rng.random(7)
    beta, eta = 0.3, 2.0
    best = np.exp(mirror.regularized_prox_log(np.log(c), q, eta=eta, tau=beta, log_reference=lr[0]))

    def obj(p):
        kl = mirror.bregman_divergence
        return eta * q @ p - eta * beta * kl(p, np.exp(lr[0])) - kl(p, c)

    for _ in range(50):
        other = 0.9 * best + 0.1 * rng.dirichlet(np.ones(7))
        assert obj(other) < obj(best)


def test_nash_md_and_omd_and_optimistic_steps(game):
    lr, P = logs(game)
    pi = np.random.default_rng(2).dirichlet(np.ones(7), size=2)
    beta, eta = 0.2, 0.5
    mix = softmax((1 - eta * beta) * np.log(pi) + eta * beta * lr, axis=-1)
    md = softmax(np.log(mix) + eta * (P @ mix[..., None])[..., 0], axis=-1)
    np.testing.assert_allclose(
        np.exp(nash.nash_md_step(np.log(pi), P, lr, beta=beta, eta=eta)), md, rtol=1e-12
    )
    omd = nash.omd_step(np.log(pi), P, lr, beta=beta, eta=eta)
    np.testing.assert_allclose(omd, nash.nash_mp_step(np.log(pi), P, lr, beta=beta, eta=eta)[0])
    q0 = nash.preference_against(P, pi)
    nxt, _ = nash.optimistic_step(np.log(pi), q0, P, lr, beta=beta, eta=eta)
    # With q_previous = P pi_k the optimistic step is the extragradient (Nash-MP) step.
    np.testing.assert_allclose(nxt, nash.nash_mp_step(np.log(pi), P, lr, beta=beta, eta=eta)[1])


def test_steps_broadcast_over_a_batch_axis(game):
    lr, P = logs(game)
    pis = np.random.default_rng(3).dirichlet(np.ones(7), size=(4, 2))
    batch = nash.nash_mp_step(np.log(pis), P[None], lr[None], beta=0.2, eta=2.0).log_next
    for b in range(4):
        np.testing.assert_allclose(
            batch[b], nash.nash_mp_step(np.log(pis[b]), P, lr, beta=0.2, eta=2.0).log_next
        )


# ------------------------------------------------------------------ ground truth
@pytest.mark.parametrize(("Y", "beta"), [(3, 0.01), (20, 0.05), (60, 0.01), (40, 2.0)])
def test_regularized_equilibrium_is_certified_and_a_fixed_point(Y, beta):
    g = random_preference_game(Y, beta=beta, seed=Y)
    res = nash.regularized_equilibrium(g)
    assert res.converged and res.params["gap"] < nash.CERTIFICATE_GAP
    assert res.params["radius"].max() < 1e-9
    pi, P, lr = res.policy, g.preferences, np.log(g.reference_policy)
    np.testing.assert_allclose(
        softmax(lr + (P @ pi[..., None])[..., 0] / beta, axis=-1), pi, rtol=1e-10, atol=1e-300
    )
    step = nash.nash_mp_step(np.log(pi), P, lr, beta=beta, eta=2.0)
    np.testing.assert_allclose(np.exp(step.log_next), pi, rtol=1e-9, atol=1e-300)


def test_certificate_detects_a_perturbed_equilibrium():
    g = random_preference_game(10, beta=0.1, seed=4)
    pi = np.asarray(nash.regularized_equilibrium(g).policy)
    bad = 0.99 * pi + 0.01 / 10
    true_dist = np.abs(bad - pi).sum()
    assert nash.equilibrium_certificate(g, bad)[0] >= true_dist  # a valid upper bound
    assert nash.exploitability(g, bad) >= g.beta * mirror.bregman_divergence(bad, pi).sum()


def test_unregularized_equilibrium_matches_linprog_value():
    g = random_preference_game(15, beta=0.0, seed=9)
    res = nash.unregularized_equilibrium(g)
    assert abs(res.values[0]) < 1e-9  # the game's value is 1/2: no response beats pi*
    assert nash.exploitability(g, res.policy) < 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.floats(0.0, 2.0), st.integers(0, 10_000))
def test_exploitability_is_nonnegative(Y, beta, seed):
    g = random_preference_game(Y, beta=beta, seed=seed)
    pi = np.random.default_rng(seed).dirichlet(np.ones(Y))
    assert nash.exploitability(g, pi) >= -1e-15


@pytest.mark.parametrize("beta", [5e-324, 1e-300, 1e-12])
def test_exploitability_at_tiny_beta_tends_to_the_unregularised_gap(beta):
    g = random_preference_game(4, beta=beta, seed=3)
    pi = np.random.default_rng(3).dirichlet(np.ones(4))
    unregularised = (g.preferences[0] @ pi).max() - 0.5
    gap = nash.exploitability(g, pi)
    assert np.isfinite(gap)
    # beta * (log-sum-exp correction + KL) is at most beta * (log Y + KL) -> 0
    assert abs(gap - unregularised) <= beta * 20 + 1e-15


def test_exploitability_formula_by_brute_force():
    g = random_preference_game(3, beta=0.3, seed=1)
    pi = np.array([0.2, 0.5, 0.3])
    P, ref = g.preferences[0], g.reference_policy[0]
    best = -np.inf
    for a in np.linspace(0, 1, 301):
        for b in np.linspace(0, 1 - a, 301):
            p = np.array([a, b, 1 - a - b])
            v = p @ P @ pi - 0.3 * mirror.bregman_divergence(p, ref)
            best = max(best, v)
    gap = best + 0.3 * mirror.bregman_divergence(pi, ref) - 0.5
    assert abs(nash.exploitability(g, pi) - gap) < 1e-4
    assert nash.exploitability(g, pi) >= gap - 1e-15  # the grid underestimates the max


# ------------------------------------------------------------------ drivers and rates
def test_nash_mp_meets_its_kl_bound_at_every_iterate():
    for Y, beta in [(5, 0.01), (20, 0.1), (40, 1.0)]:
        g = random_preference_game(Y, beta=beta, seed=Y)
        res = nash.nash_mirror_prox(g, n_iterations=200)
        kl, N = res.history["kl_to_opt"], res.history["queries"]
        np.testing.assert_array_equal(N, 2 * np.arange(201))
        bound = tiapkin2025.kl_bound(kl[0], beta, N)
        assert np.all(kl <= bound + 1e-13)


def test_driver_result_and_params(game):
    res = nash.nash_mirror_prox(game, n_iterations=30, tol=1e-10)
    assert res.policy.shape == (2, 7) and res.q_values.shape == (2, 7)
    assert res.converged and res.n_iterations < 30 and res.values[0] <= 1e-10
    assert res.params["eta"] == 2.0 and res.params["queries_per_iteration"] == 2
    assert not res.policy.flags.writeable
    for key in ("kl_to_opt", "exploitability", "queries"):
        assert res.history[key].shape == (res.n_iterations + 1,)


def test_batched_driver_matches_single_runs():
    games = [random_preference_game(6, beta=b, seed=s) for s, b in [(1, 0.1), (2, 0.5), (3, 1.0)]]
    batch = nash.nash_mirror_prox(games, n_iterations=20)
    assert batch.policy.shape == (3, 1, 6) and batch.history["exploitability"].shape == (3, 21)
    for i, g in enumerate(games):
        single = nash.nash_mirror_prox(g, n_iterations=20)
        np.testing.assert_allclose(batch.policy[i], single.policy, rtol=1e-12)
        np.testing.assert_allclose(
            batch.history["kl_to_opt"][i],
            single.history["kl_to_opt"],
            atol=1e-15,
        )


def test_callback_can_stop(game):
    seen = []

    def cb(r):
        seen.append(r.n_iterations)
        if r.n_iterations == 3:
            raise StopIteration

    res = nash.online_mirror_descent(game, n_iterations=50, callback=cb)
    assert res.n_iterations == 3 and not res.converged and "callback" in res.message


def test_omd_stalls_at_small_beta_while_nash_mp_and_optimistic_converge():
    g = random_preference_game(30, beta=0.01, seed=5)
    eq = nash.regularized_equilibrium(g)
    kw = {"reference": eq, "record": ("kl_to_opt",)}
    omd = nash.online_mirror_descent(g, eta=2.0, n_iterations=1000, **kw)
    mp = nash.nash_mirror_prox(g, eta=2.0, n_iterations=500, **kw)
    opt = nash.optimistic_mirror_descent(g, eta=1.0, n_iterations=1000, **kw)
    kl0 = omd.history["kl_to_opt"][0]
    assert omd.history["kl_to_opt"][-1] > 1e-2 * kl0
    assert mp.history["kl_to_opt"][-1] < 1e-6 * kl0
    assert opt.history["kl_to_opt"][-1] < 1e-6 * kl0


def test_nash_md_converges_slowly_and_checks_eta_beta():
    g = cyclic_preference_game(5, beta=0.1, reference="dirichlet", seed=0)
    res = nash.nash_md(g, n_iterations=400)
    kl = res.history["kl_to_opt"]
    assert kl[-1] < 1e-2 * kl[0]
    with pytest.raises(ValueError, match="eta"):
        nash.nash_md(g, eta=20.0, n_iterations=2)


def test_sampled_nash_mp_is_reproducible_and_counts_queries():
    g = random_preference_game(8, beta=0.1, seed=6)
    kw = {"n_samples": 16, "n_iterations": 20, "seed": 42}
    a, b = nash.sampled_nash_mirror_prox(g, **kw), nash.sampled_nash_mirror_prox(g, **kw)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert a.history["queries"][-1] == 20 * 2 * 16
    assert a.history["comparisons"][-1] == 20 * 2 * 16 * 8
    c = nash.sampled_nash_mirror_prox(g, **{**kw, "seed": 43})
    assert not np.array_equal(a.policy, c.policy)
    bern = nash.sampled_nash_mirror_prox(g, **kw, outcomes="bernoulli", n_inner=2, inner_lr=0.3)
    assert np.isfinite(bern.history["kl_to_opt"]).all()


def test_sampled_with_huge_samples_tracks_the_exact_run():
    g = random_preference_game(5, beta=0.5, seed=7)
    exact = nash.nash_mirror_prox(g, n_iterations=10).history["kl_to_opt"]
    samp = nash.sampled_nash_mirror_prox(g, n_samples=200_000, n_iterations=10, seed=0)
    np.testing.assert_allclose(samp.history["kl_to_opt"][:4], exact[:4], rtol=0.05)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda g: nash.nash_mirror_prox(g, eta=-1.0), "eta"),
        (lambda g: nash.nash_mirror_prox(g, n_iterations=-2), "n_iterations"),
        (lambda g: nash.nash_mirror_prox(g, record=("bogus",)), "record"),
        (lambda g: nash.nash_mirror_prox(g, initial_policy=np.ones((2, 7))), "initial_policy"),
        (lambda g: nash.sampled_nash_mirror_prox(g, n_samples=0), "n_samples"),
        (lambda g: nash.sampled_nash_mirror_prox(g, outcomes="x"), "outcomes"),
        (lambda g: nash.nash_mirror_prox([g, random_preference_game(3, beta=1)]), "game"),
        (lambda g: nash.exploitability(g, np.ones(3) / 3), "policy"),
    ],
)
def test_bad_input_raises_value_error_naming_the_field(game, call, field):
    with pytest.raises(ValueError, match=field):
        call(game)


def test_given_reference_gives_the_same_numbers_and_is_checked(game):
    eq = nash.regularized_equilibrium(game)
    own = nash.nash_mirror_prox(game, n_iterations=20)
    for ref in (eq, nash.GameReference.from_result(eq), nash.game_reference(game)):
        given = nash.nash_mirror_prox(game, n_iterations=20, reference=ref)
        for key in own.history:
            np.testing.assert_array_equal(given.history[key], own.history[key])
    other = nash.regularized_equilibrium(game.with_beta(2 * game.beta))
    with pytest.raises(ValueError, match="reference"):  # the equilibrium of another beta
        nash.nash_mirror_prox(game, n_iterations=2, reference=other)
    with pytest.raises(ValueError, match="reference"):
        nash.nash_mirror_prox(game, n_iterations=2, reference=eq.policy)
    with pytest.raises(ValueError, match="reference"):  # one equilibrium for a batch of two
        nash.nash_mirror_prox([game, game], n_iterations=2, reference=eq)
    with pytest.raises(ValueError, match="policy"):
        nash.GameReference(policy=np.ones((2, 7)), beta=game.beta)
    for refs in ([eq, eq], [eq, nash.GameReference.from_result(eq)]):
        batch = nash.nash_mirror_prox([game, game], n_iterations=5, reference=refs)
        np.testing.assert_array_equal(batch.history["kl_to_opt"][1], own.history["kl_to_opt"][:6])


def test_kl_to_opt_is_the_context_weighted_kl(game):
    """kl_to_opt = sum_x rho(x) KL(pi*_x || pi_x) (metrics.kl_to_opt weighted by contexts)."""
    eq = nash.regularized_equilibrium(game).policy
    res = nash.online_mirror_descent(game, n_iterations=3)
    pi = np.asarray(res.policy)
    by_hand = sum(
        game.contexts[x] * np.sum(eq[x] * np.log(eq[x] / pi[x])) for x in range(game.n_contexts)
    )
    np.testing.assert_allclose(res.history["kl_to_opt"][-1], by_hand, rtol=1e-12)


def test_fixed_budget_is_not_convergence_and_tol_is(game):
    res = nash.nash_mirror_prox(game, n_iterations=5)
    assert not res.converged and "fixed budget" in res.message
    res = nash.nash_mirror_prox(game, n_iterations=500, tol=1e-9, record=("exploitability",))
    assert res.converged and res.history["exploitability"][-1] <= 1e-9
    assert np.all(res.history["exploitability"][:-1] > 1e-9)


def test_drivers_have_their_docstrings_in_the_source():
    import inspect

    for driver in (
        nash.nash_mirror_prox,
        nash.online_mirror_descent,
        nash.optimistic_mirror_descent,
        nash.nash_md,
        nash.sampled_nash_mirror_prox,
    ):
        source = inspect.getsource(driver)
        assert driver.__doc__ and driver.__doc__.strip().splitlines()[0] in source


def test_generic_path_runs_on_the_namespace_of_the_input(game):
    """The steps only use the input's namespace (numpy here); CuPy is checked under `gpu`."""
    lr, P = logs(game)
    out = nash.nash_mp_step(lr, P, lr, beta=0.2, eta=2.0)
    assert isinstance(out.log_next, np.ndarray)


# ------------------------------------------------------------------ GPU
@pytest.mark.gpu
def test_gpu_matches_cpu():
    g = random_preference_game(300, beta=0.05, n_contexts=2, seed=1)
    eq = nash.regularized_equilibrium(g)
    for driver, kw in [
        (nash.nash_mirror_prox, {}),
        (nash.nash_md, {}),
        (nash.optimistic_mirror_descent, {}),
        (nash.sampled_nash_mirror_prox, {"n_samples": 32, "seed": 3}),
    ]:
        cpu = driver(g, n_iterations=50, reference=eq, **kw)
        gpu = driver(g, n_iterations=50, reference=eq, device="gpu", **kw)
        assert isinstance(gpu.policy, np.ndarray) and gpu.params["device"] == "gpu"
        np.testing.assert_allclose(gpu.policy, cpu.policy, atol=1e-10)
        for key in cpu.history:
            np.testing.assert_allclose(gpu.history[key], cpu.history[key], atol=1e-10)


@pytest.mark.gpu
def test_gpu_exploitability_accepts_cupy():
    import cupy

    g = random_preference_game(50, beta=0.1, seed=2)
    pi = np.random.default_rng(0).dirichlet(np.ones(50))[None]
    assert abs(nash.exploitability(g, cupy.asarray(pi)) - nash.exploitability(g, pi)) < 1e-12
    assert cupy_available()


def test_preference_game_with_contexts_separates():
    g1 = random_preference_game(4, beta=0.2, seed=1)
    g2 = random_preference_game(4, beta=0.2, seed=2)
    both = PreferenceGame(
        np.concatenate([g1.preferences, g2.preferences]),
        np.concatenate([g1.reference_policy, g2.reference_policy]),
        0.2,
        contexts=[0.3, 0.7],
    )
    eq = nash.regularized_equilibrium(both).policy
    np.testing.assert_allclose(eq[0], nash.regularized_equilibrium(g1).policy[0], rtol=1e-10)
    np.testing.assert_allclose(eq[1], nash.regularized_equilibrium(g2).policy[0], rtol=1e-10)
    pi = np.random.default_rng(0).dirichlet(np.ones(4), size=2)
    expected = 0.3 * nash.exploitability(g1, pi[0]) + 0.7 * nash.exploitability(g2, pi[1])
    assert abs(nash.exploitability(both, pi) - expected) < 1e-15

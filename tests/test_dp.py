"""Exact DP: closed forms, guarantees at every iterate, agreement across methods and code paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import dense_mdp, sparse_mdp

from theory_rl.algorithms import dp
from theory_rl.backend import BackendUnavailableError, cupy_available
from theory_rl.mdps import FiniteHorizonMDP, TabularMDP

# Exact solves in float64 on values of size <= 1/(1-gamma) = 10..100 carry rounding errors of
# order 1e-13; 1e-10 leaves a wide margin while still failing on any algorithmic error.
EXACT = 1e-10


def stay_or_move(gamma):
    """s0: a0 stays (r=1), a1 moves to s1 (r=0); s1 is absorbing with r=2 (single action)."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, 0, 1] = P[1, 1, 1] = 1.0
    r = np.array([[1.0, 0.0], [2.0, 2.0]])
    v1 = 2.0 / (1 - gamma)
    v0 = max(1.0 / (1 - gamma), gamma * v1)
    return TabularMDP(P, r, gamma), np.array([v0, v1])


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.9, 0.99])
def test_closed_form(gamma, code_path):
    mdp, v_star = stay_or_move(gamma)
    for res in (
        dp.value_iteration(mdp, tol=1e-11),
        dp.policy_iteration(mdp),
        dp.modified_policy_iteration(mdp, tol=1e-11),
        dp.linear_programming(mdp),
    ):
        np.testing.assert_allclose(
            res.values, v_star, rtol=1e-7 if "HiGHS" in res.message else 1e-11
        )
        assert res.converged
    best = 1 if gamma * 2 > 1 else 0
    assert dp.policy_iteration(mdp).policy[0, best] == 1.0


def test_methods_agree(mdp, code_path):
    pi = dp.policy_iteration(mdp)
    assert pi.converged
    for res in (
        dp.value_iteration(mdp, tol=1e-11),
        dp.modified_policy_iteration(mdp, m=5, tol=1e-11),
    ):
        np.testing.assert_allclose(res.values, pi.values, atol=1e-11)
        np.testing.assert_array_equal(res.policy, pi.policy)
    # LP values carry the solver's feasibility tolerance (1e-10 requested, ~1e-7 achieved).
    np.testing.assert_allclose(dp.linear_programming(mdp).values, pi.values, atol=1e-6)
    np.testing.assert_allclose(
        dp.linear_programming(mdp, solver="cvxpy").values, pi.values, atol=1e-5
    )
    # the optimal values are the fixed point of T, and the policy is greedy for them
    np.testing.assert_allclose(
        dp.bellman_optimality_operator(mdp, pi.values), pi.values, atol=EXACT
    )
    np.testing.assert_array_equal(dp.greedy_policy(mdp, pi.values), pi.policy)
    np.testing.assert_allclose(pi.q_values, dp.q_values(mdp, pi.values))


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("tol", [1e-2, 1e-5, 1e-9])
def test_value_iteration_stopping_rule_guarantee(gamma, tol):
    mdp = dense_mdp(40, 5, gamma, seed=7, concentration=0.05)
    v_star = dp.policy_iteration(mdp).values
    res = dp.value_iteration(mdp, tol=tol)
    assert res.converged and res.history["error_bound"][-1] <= tol
    v_pi = dp.policy_evaluation(mdp, res.policy)
    assert np.max(v_star - v_pi) <= tol + EXACT
    assert np.max(np.abs(res.values - v_star)) <= tol / 2 + EXACT


def test_value_iteration_contraction_every_iterate(mdp, code_path):
    v_star = dp.policy_iteration(mdp).values
    v0 = np.full(mdp.n_states, 5.0)
    errors = []
    dp.value_iteration(
        mdp,
        tol=1e-12,
        initial_values=v0,
        callback=lambda r: errors.append(np.max(np.abs(r.values - v_star))),
    )
    k = np.arange(1, len(errors) + 1)
    bound = mdp.gamma**k * np.max(np.abs(v0 - v_star))
    assert len(errors) > 5
    assert np.all(np.array(errors) <= bound + EXACT)


def test_policy_iteration_monotone_and_finite(mdp, code_path):
    values = []
    res = dp.policy_iteration(
        mdp,
        initial_policy=np.zeros(mdp.n_states, dtype=int),
        callback=lambda r: values.append(r.values),
    )
    assert res.converged and res.n_iterations == len(values)
    assert res.n_iterations <= mdp.n_actions**mdp.n_states
    for before, after in itertools.pairwise(values):
        assert np.all(after >= before - EXACT)
    assert res.history["n_changed"][-1] == 0 and np.all(res.history["n_changed"][:-1] > 0)
    np.testing.assert_allclose(
        res.history["value_rho"], [v @ mdp.initial_distribution for v in values]
    )


def test_policy_iteration_stochastic_start(mdp):
    uniform = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    res = dp.policy_iteration(mdp, initial_policy=uniform)
    np.testing.assert_allclose(res.values, dp.policy_iteration(mdp).values, atol=EXACT)


def test_policy_evaluation_solves_linear_system(mdp):
    rng = np.random.default_rng(3)
    pi = rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
    v = dp.policy_evaluation(mdp, pi)
    P_pi, r_pi = mdp.policy_matrix(pi)
    np.testing.assert_allclose(v - mdp.gamma * (P_pi @ v), r_pi, atol=1e-12)
    # the Bellman expectation operator fixes V^pi
    np.testing.assert_allclose((pi * dp.q_values(mdp, v)).sum(1), v, atol=1e-12)
    np.testing.assert_allclose(dp.policy_evaluation(mdp, pi, method="iterative"), v, atol=1e-10)


def test_policy_evaluation_batch_and_deterministic(mdp):
    rng = np.random.default_rng(5)
    actions = rng.integers(0, mdp.n_actions, size=(3, mdp.n_states))
    batch = dp.policy_evaluation(mdp, actions)
    assert batch.shape == (3, mdp.n_states)
    for a, v in zip(actions, batch, strict=True):
        np.testing.assert_allclose(
            dp.policy_evaluation(mdp, np.eye(mdp.n_actions)[a]), v, atol=1e-12
        )
    q = dp.q_values(mdp, batch)
    assert q.shape == (3, mdp.n_states, mdp.n_actions)
    np.testing.assert_allclose(q[1], dp.q_values(mdp, batch[1]))


def test_iterative_evaluation_large_sparse():
    mdp = sparse_mdp(3000, 3, 4, 0.99, seed=2)
    pi = np.random.default_rng(0).integers(0, 3, size=3000)
    direct = dp.policy_evaluation(mdp, pi, method="direct")
    iterative = dp.policy_evaluation(mdp, pi, method="iterative", tol=1e-9)
    assert np.max(np.abs(direct - iterative)) <= 1e-9


def test_occupancy_measure(mdp):
    rng = np.random.default_rng(9)
    pi = rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
    rho = rng.dirichlet(np.ones(mdp.n_states))
    d = dp.occupancy_measure(mdp, pi, rho)
    assert abs(d.sum() - 1) < 1e-12 and np.all(d >= -1e-15)
    # truncated power series (1 - gamma) sum_t gamma^t rho P_pi^t; gamma^400 < 1e-18
    P_pi, r_pi = mdp.policy_matrix(pi)
    P_pi = P_pi.toarray() if hasattr(P_pi, "toarray") else P_pi
    series, x = np.zeros(mdp.n_states), rho.copy()
    for t in range(400):
        series += (1 - mdp.gamma) * mdp.gamma**t * x
        x = x @ P_pi
    np.testing.assert_allclose(d, series, atol=1e-12)
    # performance identity: rho . V^pi = d . r_pi / (1 - gamma)
    v = dp.policy_evaluation(mdp, pi)
    assert abs(rho @ v - d @ r_pi / (1 - mdp.gamma)) < 1e-10


def test_backward_induction_brute_force(code_path):
    rng = np.random.default_rng(11)
    H, S, A = 3, 2, 2
    P = rng.dirichlet(np.ones(S), size=(H, S, A))
    r = rng.random((H, S, A))
    mdp = FiniteHorizonMDP(P, r, horizon=H, initial_distribution=np.array([0.3, 0.7]))
    res = dp.backward_induction(mdp)
    assert res.values.shape == (H + 1, S) and res.policy.shape == (H, S, A)
    best = -np.inf
    for rules in itertools.product(itertools.product(range(A), repeat=S), repeat=H):
        v = np.zeros(S)
        for h in range(H - 1, -1, -1):
            a = np.array(rules[h])
            v = r[h, np.arange(S), a] + P[h, np.arange(S), a] @ v
        best = max(best, mdp.initial_distribution @ v)
    assert abs(res.history["value_rho"][0] - best) < 1e-12
    stationary = FiniteHorizonMDP(P[0], r[0], horizon=H)
    per_step = FiniteHorizonMDP(np.stack([P[0]] * H), np.stack([r[0]] * H), horizon=H)
    sparse = FiniteHorizonMDP(TabularMDP(P[0], r[0], 0.5).to_sparse().transitions, r[0], horizon=H)
    for other in (per_step, sparse):
        np.testing.assert_allclose(
            dp.backward_induction(other).values,
            dp.backward_induction(stationary).values,
            atol=1e-14,
        )


def test_backward_induction_approaches_discounted_limit():
    mdp = dense_mdp(10, 3, 0.0, seed=1)
    fh = FiniteHorizonMDP(mdp.transitions, mdp.rewards, horizon=1)
    np.testing.assert_allclose(dp.backward_induction(fh).values[0], mdp.rewards.max(1))


def test_callback_stop_and_max_iterations(mdp):
    def stop_at_3(r):
        if r.n_iterations == 3:
            raise StopIteration

    res = dp.value_iteration(mdp, tol=1e-12, callback=stop_at_3)
    assert res.n_iterations == 3 and not res.converged and "callback" in res.message
    res = dp.value_iteration(mdp, tol=1e-12, max_iterations=2)
    assert not res.converged and "max_iterations=2" in res.message
    assert res.history["residual"].shape == (2,)
    res = dp.policy_iteration(mdp, max_iterations=1, initial_policy=np.zeros(mdp.n_states, int))
    assert not res.converged


def test_result_is_read_only_and_echoes_params(mdp):
    res = dp.value_iteration(mdp, tol=1e-6)
    assert res.params["tol"] == 1e-6 and res.params["method"] == "value_iteration"
    with pytest.raises(ValueError, match="read-only"):
        res.values[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        res.history["span"][0] = 1.0
    assert "n_iterations" in repr(res)


def test_serial_and_parallel_kernels_agree():
    mdp = sparse_mdp(500, 4, 5, 0.95, seed=8)
    long_rows = sparse_mdp(300, 4, 37, 0.95, seed=9)  # the vectorised part of the CSR row loop
    for m in (mdp, long_rows, mdp.to_dense()):
        for solve in (dp.value_iteration, dp.modified_policy_iteration):
            a = solve(m, tol=1e-10, parallel=False)
            b = solve(m, tol=1e-10, parallel=True)
            assert a.params["parallel"] is False and b.params["parallel"] is True
            np.testing.assert_array_equal(a.values, b.values)
            np.testing.assert_array_equal(a.q_values, b.q_values)
            np.testing.assert_array_equal(a.history["policy_sweeps"], b.history["policy_sweeps"])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("span_tol", [0.0, 1e-6])
def test_policy_sweeps_are_powers_of_the_policy_operator(sparse, span_tol, code_path):
    mdp = sparse_mdp(60, 3, 4, 0.9, seed=5)
    mdp = mdp if sparse else mdp.to_dense()
    actions = np.random.default_rng(0).integers(0, 3, size=60)
    rows = np.arange(60) * 3 + actions
    P_pi = mdp.to_dense().transitions.reshape(180, 60)[rows]
    r_pi = mdp.rewards.reshape(180)[rows]
    v0 = np.random.default_rng(1).normal(size=60)
    for parallel in (False, True):
        op = dp._operator(mdp, None, parallel)
        v, done = op.policy_sweeps(v0, actions, 50, span_tol)
        expected, spans = v0, []
        for _ in range(done):
            nxt = r_pi + 0.9 * P_pi @ expected
            spans.append(np.ptp(nxt - expected))
            expected = nxt
        np.testing.assert_allclose(v, expected, rtol=0, atol=1e-12)
        if span_tol == 0.0:
            assert done == 50
        else:  # stopped at the first increment with span <= span_tol
            assert 1 <= done < 50 and spans[-1] <= span_tol and min(spans[:-1]) > span_tol
    np.testing.assert_array_equal(op.policy_sweeps(v0, actions, 0)[0], v0)
    P_all = mdp.to_dense().transitions.reshape(180, 60)
    q = op.q(v0)
    np.testing.assert_allclose(q, (mdp.rewards.reshape(180) + 0.9 * P_all @ v0).reshape(60, 3))


def test_modified_policy_iteration_cuts_converged_evaluations():
    mdp = dense_mdp(40, 3, 0.99, seed=4)  # full-support rows: T_pi mixes in a few sweeps
    res = dp.modified_policy_iteration(mdp, m=200, tol=1e-8)
    sweeps = res.history["policy_sweeps"]
    assert sweeps.shape == (res.n_iterations,) and sweeps[-1] == 0
    assert 0 < sweeps.max() < 200
    np.testing.assert_allclose(res.values, dp.policy_iteration(mdp).values, atol=5e-9)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda m: dp.value_iteration(m, tol=0.0), "tol must be > 0"),
        (lambda m: dp.value_iteration(m, tol="1e-8"), "tol must be a real number > 0"),
        (lambda m: dp.value_iteration(m, rtol=True), "rtol must be a real number > 0"),
        (lambda m: dp.value_iteration(m, rtol=-1e-9), "rtol must be > 0"),
        (lambda m: dp.modified_policy_iteration(m, tol=1e-8j), "tol must be a real number"),
        (lambda m: dp.value_iteration(m, max_iterations=10.0), "max_iterations must be an int"),
        (lambda m: dp.modified_policy_iteration(m, m="5"), "m must be an int >= 0"),
        (lambda m: dp.policy_iteration(m, max_iterations="3"), "max_iterations must be an int"),
        (lambda m: dp.linear_programming(m, tol=None, rtol="0.1"), "rtol must be a real number"),
        (lambda m: dp.policy_evaluation(m, np.zeros(30, int), tol=b"1"), "tol must be a real"),
        (
            lambda m: dp.value_iteration(m, initial_values=np.array(["0"] * 30)),
            "initial_values must be a numeric array",
        ),
        (lambda m: dp.q_values(m, np.zeros(30, dtype=bool)), "values must be a numeric array"),
        (lambda m: dp.value_iteration(m, max_iterations=0), "max_iterations must be an int >= 1"),
        (
            lambda m: dp.value_iteration(m, initial_values=np.zeros(3)),
            r"initial_values must have shape",
        ),
        (
            lambda m: dp.value_iteration(m, initial_values=np.full(30, np.nan)),
            "initial_values must be finite",
        ),
        (lambda m: dp.modified_policy_iteration(m, m=-1), "m must be an int >= 0"),
        (lambda m: dp.policy_evaluation(m, np.zeros(30, int), method="lu"), "method must be"),
        (lambda m: dp.policy_evaluation(m, np.full(30, 7)), r"policy\[0\] = 7 is not an action"),
        (
            lambda m: dp.policy_iteration(m, initial_policy=np.ones((30, 4))),
            r"initial_policy\[0, :\] sums to 4",
        ),
        (lambda m: dp.linear_programming(m, solver="glpk"), "solver must be"),
        (lambda m: dp.value_iteration("mdp"), "mdp must be a TabularMDP"),
        (lambda m: dp.backward_induction(m), "mdp must be a FiniteHorizonMDP"),
        (lambda m: dp.value_iteration(m, device="tpu"), "device must be one of"),
        (
            lambda m: dp.occupancy_measure(m, np.zeros(30, int), rho=np.ones(30)),
            r"rho\[:\] sums to 30",
        ),
    ],
)
def test_bad_arguments(mdp, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(mdp)


@pytest.mark.skipif(cupy_available(), reason="checks the error raised without a GPU")
def test_gpu_request_without_cupy_is_a_clear_error(mdp):
    with pytest.raises(BackendUnavailableError, match="theory_rl\\[gpu\\]"):
        dp.value_iteration(mdp, device="gpu")


def test_sparse_matrix_too_large_for_gpu_indices_is_a_clear_error(monkeypatch):
    from theory_rl import backend

    P = sparse_mdp(30, 2, 3, 0.9, seed=0).transitions  # 180 stored entries, 60 rows
    monkeypatch.setattr(backend, "_CUPY_SPARSE_MAX", 100)
    with pytest.raises(ValueError, match="transitions: .*180 stored entries.*32-bit indices"):
        backend.to_device(P, "gpu")


def test_value_iteration_at_a_million_states():
    from theory_rl.mdps import garnet

    mdp = garnet(10**6, 10, 10, gamma=0.9, seed=0)
    assert mdp.nnz == 10**8
    res = dp.value_iteration(mdp, tol=1e-6)
    assert res.converged
    # ||v - V*|| <= tol/2 implies ||Tv - v|| <= (1 + gamma) tol / 2 (triangle inequality).
    tv = dp.bellman_optimality_operator(mdp, res.values)
    assert np.max(np.abs(tv - res.values)) <= (1 + mdp.gamma) * 1e-6 / 2


# --------------------------------------------------------------------------------------------
# Tolerances: round-off floor, relative default, a-posteriori LP certificate
# --------------------------------------------------------------------------------------------
def _refined_optimal_values(mdp, actions):
    """``V^pi`` of deterministic ``actions`` by iterative refinement in extended precision."""
    S, A = mdp.n_states, mdp.n_actions
    rows = np.arange(S) * A + actions
    P = np.asarray(mdp.transition_matrix)[rows]
    M = np.eye(S, dtype=np.longdouble) - np.longdouble(mdp.gamma) * P.astype(np.longdouble)
    r = mdp.rewards.ravel()[rows].astype(np.longdouble)
    M64 = M.astype(np.float64)
    x = np.linalg.solve(M64, r.astype(np.float64)).astype(np.longdouble)
    for _ in range(4):
        x += np.linalg.solve(M64, (r - M @ x).astype(np.float64)).astype(np.longdouble)
    return x


@pytest.mark.slow
def test_tol_below_roundoff_warns_and_guarantee_includes_the_floor():
    from theory_rl import RoundoffWarning, garnet
    from theory_rl.bounds.mdp_constants import value_error_floor

    mdp = garnet(200, 3, 1, gamma=0.9999, seed=5, sparse=False)
    floor = value_error_floor(mdp)
    v_star = _refined_optimal_values(mdp, dp.policy_iteration(mdp).policy.argmax(axis=1))
    with pytest.warns(RoundoffWarning, match="below the float64 round-off bound"):
        res = dp.modified_policy_iteration(mdp, tol=1e-8, m=50)
    err = float(np.max(np.abs(res.values - v_star)))
    # measured 7.4e-9 > tol/2 = 5e-9: the claim "within tol/2" alone would be false
    assert err > 5e-9
    assert res.params["roundoff_bound"] == floor and err <= 5e-9 + floor
    assert f"round-off bound {floor:.3g}" in res.message
    # a tol above the floor certifies without a warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundoffWarning)
        res = dp.modified_policy_iteration(mdp, tol=1e-4, m=50)
    assert res.converged and np.max(np.abs(res.values - v_star)) <= 5e-5


def test_roundoff_warning_class_is_exported_once():
    import theory_rl
    from theory_rl.bounds import mdp_constants

    assert theory_rl.RoundoffWarning is dp.RoundoffWarning is mdp_constants.RoundoffWarning
    assert issubclass(theory_rl.RoundoffWarning, UserWarning)


@pytest.mark.parametrize("solve", [dp.value_iteration, dp.modified_policy_iteration])
def test_default_tolerance_is_relative_to_the_value_scale(solve):
    # rewards of order 1e-12: an absolute tol of 1e-8 would stop after one sweep with the myopic
    # (wrong) action at s0 and a 22% value error
    mdp, v_star = stay_or_move(0.9)
    tiny = TabularMDP(mdp.transitions, mdp.rewards * 1e-12, mdp.gamma)
    res = solve(tiny)
    assert res.converged and res.policy.argmax(axis=1)[0] == 1
    scale = 2e-12 / (1 - 0.9)
    assert res.params["tol"] == pytest.approx(dp.DEFAULT_RTOL * scale)
    assert np.max(np.abs(res.values - v_star * 1e-12)) <= dp.DEFAULT_RTOL * scale / 2 + 1e-25
    # the absolute tolerance, asked for explicitly, is honoured as such (any policy is 1e-8-good)
    coarse = solve(tiny, tol=1e-8)
    assert coarse.converged and coarse.n_iterations == 1 and coarse.params["rtol"] is None
    # rtol gives the same relative accuracy whatever the reward scale
    for scale_r in (1e-12, 1.0, 1e12):
        m = TabularMDP(mdp.transitions, mdp.rewards * scale_r, mdp.gamma)
        res = solve(m, rtol=1e-6)
        assert res.policy.argmax(axis=1)[0] == 1
        assert np.max(np.abs(res.values - v_star * scale_r)) <= 1e-6 * 20 * scale_r / 2
    # both given: the smaller absolute threshold
    res = solve(mdp, tol=1e-3, rtol=1e-9)
    assert res.params["tol"] == pytest.approx(2e-8)


def test_policy_iteration_threshold_is_relative_to_the_value_scale():
    mdp, v_star = stay_or_move(0.9)
    tiny = TabularMDP(mdp.transitions, mdp.rewards * 1e-12, mdp.gamma)
    res = dp.policy_iteration(tiny, initial_policy=np.array([0, 0]))
    assert res.converged and res.policy.argmax(axis=1)[0] == 1
    np.testing.assert_allclose(res.values, v_star * 1e-12, rtol=1e-12)
    assert "round-off bound" in res.message


@pytest.mark.slow
def test_linear_programming_is_certified_by_its_bellman_residual():
    from theory_rl import garnet

    mdp = garnet(200, 5, 3, gamma=0.9999, seed=1, sparse=False)
    v_star = dp.policy_iteration(mdp).values
    for solver in ("highs", "cvxpy"):
        res = dp.linear_programming(mdp, solver=solver)
        residual = np.abs(dp.bellman_optimality_operator(mdp, res.values) - res.values).max()
        bound = residual / (1 - mdp.gamma)
        # the two residuals differ by round-off at the value scale ~1e4 (100 ulps), over 1-gamma
        slack = 100 * np.finfo(float).eps * 1e4 / (1 - mdp.gamma)
        assert res.history["error_bound"][0] == pytest.approx(bound, abs=slack)
        assert np.max(np.abs(res.values - v_star)) <= bound + 1e-9  # the bound holds
        assert res.converged == (bound <= res.params["tol"] / 2)
    # measured: HiGHS residual bound 2.2e-5, Clarabel 0.38 (error 1.6e-4; status "optimal")
    assert dp.linear_programming(mdp, solver="highs").converged
    cvx = dp.linear_programming(mdp, solver="cvxpy")
    assert not cvx.converged and "NOT certified" in cvx.message
    # a tol below HiGHS' residual bound is refused too
    assert not dp.linear_programming(mdp, tol=1e-6).converged


def test_public_operators_agree_with_the_q_array(code_path):
    for mdp in (dense_mdp(40, 4, 0.9, seed=3), sparse_mdp(40, 4, 3, 0.9, seed=3)):
        rng = np.random.default_rng(0)
        v = rng.random(40) * 10
        q = dp.q_values(mdp, v)
        for parallel in (None, False, True):
            tv = dp.bellman_optimality_operator(mdp, v, parallel=parallel)
            np.testing.assert_allclose(tv, q.max(axis=1), rtol=1e-14, atol=1e-13)
            pi = dp.greedy_policy(mdp, v, parallel=parallel)
            np.testing.assert_array_equal(pi.argmax(axis=1), q.argmax(axis=1))
            assert pi.shape == (40, 4) and np.all(pi.sum(axis=1) == 1)
        batch = np.stack([v, 2 * v])
        np.testing.assert_allclose(
            dp.bellman_optimality_operator(mdp, batch)[1],
            dp.bellman_optimality_operator(mdp, 2 * v),
            rtol=1e-14,
        )
        assert dp.greedy_policy(mdp, batch).shape == (2, 40, 4)
        assert not np.shares_memory(dp.bellman_optimality_operator(mdp, v), v)


def test_sparse_lu_for_sparse_policy_matrices_with_few_entries_per_row(monkeypatch):
    """Below DIRECT_SOLVE_MAX_STATES a sparse P_pi with <= 2.5 entries per row is solved by
    sparse LU (the forest problem: policy iteration at S = 2000 took 1.24 s with a dense LU and
    6.5 ms now), denser ones by dense LU; both give the dense answer."""
    from mdptoolbox import example

    P, R = example.forest(S=300)  # (A, S, S): rows with 1 or 2 entries
    dense = TabularMDP(np.transpose(P, (1, 0, 2)), R, 0.95)
    calls = []
    real = dp.spla.spsolve
    monkeypatch.setattr(dp.spla, "spsolve", lambda *a, **k: calls.append(1) or real(*a, **k))
    sparse_res = dp.policy_iteration(dense.to_sparse(), evaluation="direct")
    assert calls, "the sparse LU was not used"
    dense_res = dp.policy_iteration(dense, evaluation="direct")
    np.testing.assert_allclose(sparse_res.values, dense_res.values, rtol=1e-12)
    calls.clear()
    dp.policy_evaluation(sparse_mdp(300, 3, 10, 0.9, seed=0), np.zeros(300, dtype=int))
    assert not calls, "a P_pi with 10 entries per row should use the dense LU"

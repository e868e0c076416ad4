"""The contract every iterative driver keeps (they all run on ``algorithms._loop.iterate``).

For each public driver: history shapes and axis order (``(K+1,)`` single, ``(B, K+1)``
batched); ``converged``/``message`` under a fixed budget and under ``tol``; ``callback`` with
``StopIteration``; the same seed gives the same result; returned arrays are read-only;
``params`` echo the settings; ``reference=`` computed by the caller gives the same numbers as
computing it inside.  A new driver (a public function with ``n_iterations`` and ``record``) must
be added to :data:`DRIVERS`, or the discovery test fails.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import theory_rl
from theory_rl.algorithms import dp, nash
from theory_rl.algorithms.exploration import finite_horizon
from theory_rl.algorithms.robust import robust_value_iteration
from theory_rl.mdps import garnet, random_linear_mdp
from theory_rl.mdps.combination_lock import combination_lock, episodic_combination_lock
from theory_rl.mdps.games import random_preference_game
from theory_rl.mdps.robust import KLPenalty, L1Ball
from theory_rl.mdps.soft_robust import sample_dataset

K = 6


@dataclasses.dataclass(frozen=True)
class Case:
    problem: Callable[[], Any]
    kwargs: dict[str, Any]
    batch: dict[str, Any] | None = None  # kwargs that make a batch of 3 runs (arrays of 3)
    tol: float | None = None  # a tolerance met within a few iterations
    reference: Callable[[Any], Any] | None = None  # what the driver accepts as reference=
    batch_problems: Callable[[], list] | None = None  # a batch of 3 problems (with batch kwargs)


def _mdp():
    return garnet(6, 3, 2, gamma=0.8, seed=1, sparse=False)


def _game():
    return random_preference_game(4, n_contexts=2, beta=0.1, seed=3)


def _ref(**kw):
    return lambda problem: theory_rl.reference(problem, **kw)


DRIVERS: dict[str, Case] = {
    "policy_mirror_descent": Case(
        _mdp, {"eta": 1.0}, {"eta": np.array([0.5, 1.0, 2.0])}, 1e-2, _ref()
    ),
    "generalized_policy_mirror_descent": Case(
        _mdp,
        {"eta": 1.0, "tau": 0.1},
        {"eta": np.array([0.5, 1.0, 2.0]), "tau": 0.1},
        None,
        _ref(tau=0.1, regularizer="entropy"),
    ),
    "staq_policy_mirror_descent": Case(
        _mdp, {"eta": 1.0, "tau": 0.1, "memory": 3}, None, None,
        _ref(tau=0.1, regularizer="entropy"),
    ),
    "natural_policy_gradient": Case(
        _mdp, {"eta": 1.0}, {"eta": np.array([0.5, 1.0, 2.0])}, 1e-2, _ref()
    ),
    "softmax_policy_gradient": Case(
        _mdp, {"eta": 1.0}, {"eta": np.array([0.5, 1.0, 2.0])}, 1.0, _ref()
    ),
    "projected_policy_gradient": Case(
        _mdp, {"eta": 0.5}, {"eta": np.array([0.1, 0.5, 1.0])}, 1.0, _ref()
    ),
    "q_npg": Case(
        lambda: random_linear_mdp(6, 3, 4, gamma=0.8, seed=2),
        {"eta": 1.0, "critic": "sampled", "n_rollouts": 2, "horizon": 5},
    ),
    "hybrid_npg": Case(
        lambda: combination_lock(3, 4, seed=0),
        {"eta": 1.0, "episode_length": 3, "episodes_per_iteration": 2, "max_samples": 10_000},
    ),
    "nash_mirror_prox": Case(
        _game, {"beta": 0.1}, {"beta": 0.1}, 1e-1, lambda g: nash.game_reference(g),
        lambda: [random_preference_game(4, n_contexts=2, beta=0.1, seed=s) for s in (2, 3, 4)],
    ),
    "online_mirror_descent": Case(_game, {"beta": 0.1}, None, 1e-1),
    "optimistic_mirror_descent": Case(_game, {"beta": 0.1}, None, 1e-1),
    "nash_md": Case(_game, {"beta": 0.1, "eta": 0.5}, None, 1e-1),
    "sampled_nash_mirror_prox": Case(_game, {"beta": 0.1, "n_samples": 8}),
    "categorical_evaluation": Case(_mdp, {"policy": np.zeros(6, dtype=np.int64)}, None, 1e-3),
    "quantile_evaluation": Case(_mdp, {"policy": np.zeros(6, dtype=np.int64)}, None, 1e-3),
    "distributional_value_iteration": Case(_mdp, {"objective": "cvar", "n_stocks": 11}, None,
                                           1e-3),
    **{
        name: Case(_mdp, {"step_size": 0.5}, None, 5.0, _ref())
        for name in (
            "n_pg_igt",
            "harpg",
            "n_harpg",
            "vanilla_policy_gradient",
            "normalized_momentum_pg",
        )
    },
    "optimistic_actor_critic": Case(
        lambda: episodic_combination_lock(3, 2, seed=0),
        {"bonus_scale": 0.1, "episodes_per_iteration": 4}, None, 0.5, dp.backward_induction,
    ),
    "ucbvi": Case(
        lambda: episodic_combination_lock(3, 2, seed=0),
        {"bonus_scale": 0.01, "episodes_per_iteration": 4}, None, 0.5, dp.backward_induction,
    ),
    "lsvi_ucb": Case(
        lambda: random_linear_mdp(5, 2, 3, seed=0),
        {"horizon": 3, "bonus_scale": 0.05, "episodes_per_iteration": 4}, None, None,
        lambda m: dp.backward_induction(finite_horizon(m, 3)),
    ),
    "q_learning": Case(_mdp, {"updates_per_iteration": 8}, None, 1.0, _ref()),
    "drpg": Case(
        _mdp,
        {"uncertainty": L1Ball(0.2)},
        None,
        1e-2,
        lambda m: robust_value_iteration(m, L1Ball(0.2), rtol=1e-12),
    ),
    "soft_robust_policy_gradient": Case(
        _mdp,
        {"penalty": KLPenalty(1.0), "eta": 0.1},
        {"penalty": KLPenalty(1.0), "eta": np.array([0.05, 0.1, 0.2])},
        1.0,
        lambda m: theory_rl.soft_robust_optimum(m, KLPenalty(1.0)),
    ),
    "rfzi": Case(
        lambda: sample_dataset(_mdp(), 20, seed=0),
        {"beta": 1.0},
        None,
        1e-3,
        lambda d: theory_rl.rfzi(d.source, beta=1.0, n_iterations=300).q_values,
    ),
}


def _driver(name: str) -> Callable[..., theory_rl.SolveResult]:
    return getattr(theory_rl, name)


def _run(name: str, **extra: Any) -> theory_rl.SolveResult:
    case = DRIVERS[name]
    kwargs = {"n_iterations": K, "seed": 0, **case.kwargs, **extra}
    return _driver(name)(case.problem(), **kwargs)


def test_every_public_driver_is_covered():
    found = {
        name
        for name in theory_rl.__all__
        if callable(obj := getattr(theory_rl, name))
        and inspect.isfunction(obj)
        and {"n_iterations", "record"} <= set(inspect.signature(obj).parameters)
    }
    assert found == set(DRIVERS), f"drivers not in DRIVERS: {found - set(DRIVERS)}"


#: Drivers stopped by their own rule rather than by ``tol`` on a metric: hybrid NPG stops at
#: success (rho^T V >= success_fraction rho^T V*), which is its paper's measured quantity.
OWN_STOPPING_RULE = {"hybrid_npg"}


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_signature(name):
    params = inspect.signature(_driver(name)).parameters
    for key in ("n_iterations", "tol", "record", "callback", "seed", "device", "reference"):
        if key == "tol" and name in OWN_STOPPING_RULE:
            continue
        assert key in params, f"{name} lacks {key}="
        assert params[key].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_fixed_budget_history_params_and_read_only(name):
    res = _run(name)
    assert res.history, "no history recorded by default"
    for key, arr in res.history.items():
        assert arr.shape[0] == res.n_iterations + 1, (key, arr.shape)
        assert not arr.flags.writeable
    if name != "hybrid_npg":  # success-stopped: may stop before the budget
        assert res.n_iterations == K
        assert not res.converged
        assert "fixed budget" in res.message or "n_iterations" in res.message
    assert not res.policy.flags.writeable
    assert res.params["n_iterations"] == K and res.params["tol"] == 0.0
    assert res.params["method"] and tuple(res.params["record"]) == tuple(res.history)


@pytest.mark.parametrize("name", sorted(n for n, c in DRIVERS.items() if c.batch))
def test_batched_history_axis_order(name):
    case = DRIVERS[name]
    problems = case.batch_problems() if case.batch_problems else None
    res = _driver(name)(problems or case.problem(), n_iterations=K, seed=0, **case.batch)
    for key, arr in res.history.items():
        assert arr.shape[:2] == (3, K + 1), (key, arr.shape)
    one = _driver(name)(
        problems[1] if problems else case.problem(), n_iterations=K, seed=0,
        **{k: (v[1] if isinstance(v, np.ndarray) else v) for k, v in case.batch.items()},
    )
    for key, arr in one.history.items():
        np.testing.assert_allclose(res.history[key][1], arr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(n for n, c in DRIVERS.items() if c.tol))
def test_tol_stops_with_converged(name):
    case = DRIVERS[name]
    res = _run(name, n_iterations=500, tol=case.tol)
    assert res.converged, res.message
    assert res.n_iterations < 500
    assert "tol" in res.message


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_callback_stop_iteration(name):
    seen = []

    def callback(intermediate):
        seen.append(intermediate.n_iterations)
        for arr in intermediate.history.values():
            assert arr.shape[0] == intermediate.n_iterations + 1
        if intermediate.n_iterations == 2:
            raise StopIteration

    res = _run(name, callback=callback)
    if name == "hybrid_npg" and res.converged:  # succeeded before the callback stopped it
        return
    assert seen[:3] == [0, 1, 2]
    assert res.n_iterations == 2 and not res.converged
    assert "callback" in res.message


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_same_seed_same_result(name):
    a, b = _run(name), _run(name)
    np.testing.assert_array_equal(a.policy, b.policy)
    for key in a.history:
        np.testing.assert_array_equal(a.history[key], b.history[key])


@pytest.mark.parametrize("name", sorted(n for n, c in DRIVERS.items() if c.reference))
def test_reference_given_equals_computed(name):
    case = DRIVERS[name]
    problem = case.problem()
    inside = _driver(name)(problem, n_iterations=K, seed=0, **case.kwargs)
    given = _driver(name)(
        problem, n_iterations=K, seed=0, reference=case.reference(problem), **case.kwargs
    )
    for key in inside.history:  # equal up to the last bit of a log (SIMD paths may differ)
        np.testing.assert_allclose(inside.history[key], given.history[key], rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_bad_numeric_arguments_name_the_field(name):
    with pytest.raises(ValueError, match="n_iterations"):
        _run(name, n_iterations="5")
    if name not in OWN_STOPPING_RULE:
        with pytest.raises(ValueError, match="tol"):
            _run(name, tol="0.1")
    with pytest.raises(ValueError, match="record"):
        _run(name, record=("no_such_metric",))

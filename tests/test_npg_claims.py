"""The NPG/PG claims hold for the real algorithms and FAIL for deliberately broken ones."""

from __future__ import annotations

import pytest

from theory_rl.algorithms import npg, pg
from theory_rl.experiments import registry
from theory_rl.experiments.claims.npg import npg_agarwal, npg_cen, npg_chain, npg_hnpg
from theory_rl.experiments.claims.pg import pg_mei_bandit
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_STEP_LOG = npg.npg_step_log
REAL_ENTROPY_STEP_LOG = npg.entropy_npg_step_log
REAL_NPG = npg.natural_policy_gradient
REAL_PG = pg.softmax_policy_gradient
REAL_HNPG = npg.hybrid_npg

IDS = ["npg_agarwal", "npg_cen", "pg_mei_bandit", "npg_chain", "npg_hnpg"]


def run(module, grid):
    frame = run_sweep(grid, module.compute, executor=SerialExecutor())
    return frame, module.check(frame)


def test_claims_are_registered():
    assert set(IDS) <= set(registry.claim_ids())


@pytest.mark.parametrize(
    "module,grid",
    [
        (npg_agarwal, npg_agarwal.QUICK_GRID[:1] + npg_agarwal.QUICK_GRID[-1:]),
        (npg_cen, npg_cen.QUICK_GRID[:2]),
        (pg_mei_bandit, pg_mei_bandit.QUICK_GRID),
        (npg_chain, npg_chain.QUICK_GRID),
        (npg_hnpg, [c for c in npg_hnpg.QUICK_GRID if c["horizon"] >= 4]),
    ],
    ids=IDS,
)
def test_claim_holds_for_the_real_algorithm(module, grid):
    _, verdicts = run(module, grid)
    assert verdicts and all(v.holds for v in verdicts), [v.measured for v in verdicts]


AGARWAL_GRID = npg_agarwal.QUICK_GRID[:1] + npg_agarwal.QUICK_GRID[-1:]


def test_agarwal_fails_for_npg_with_the_wrong_sign(monkeypatch):
    """Descending instead of ascending: gap grows, values fall."""

    def wrong(log_policy, advantages, *, eta, gamma):
        return REAL_STEP_LOG(log_policy, -advantages, eta=eta, gamma=gamma)

    monkeypatch.setattr(npg, "npg_step_log", wrong)
    _, verdicts = run(npg_agarwal, AGARWAL_GRID)
    assert not verdicts[0].holds and not verdicts[1].holds


def test_agarwal_fails_for_npg_with_a_too_small_effective_step(monkeypatch):
    """A step eta (1 - gamma)^2 / 10 instead of eta: the bound log|A|/(eta T) is too small."""

    def slow(log_policy, advantages, *, eta, gamma):
        return REAL_STEP_LOG(log_policy, advantages, eta=eta * (1 - gamma) ** 2 / 10, gamma=gamma)

    monkeypatch.setattr(npg, "npg_step_log", slow)
    _, verdicts = run(npg_agarwal, AGARWAL_GRID)
    # still monotone, but slower than the bound; the Lemma 12.8 check, whose log Z_t uses the
    # stated eta, catches the step mismatch too
    assert not verdicts[0].holds and not verdicts[1].holds


def test_agarwal_lemma_check_catches_a_corrupted_iterate():
    frame, _ = run(npg_agarwal, AGARWAL_GRID[:1])
    bad = frame.copy()
    bad.loc[bad.index[50], "lemma_slack"] = -1e-6
    assert not npg_agarwal.check(bad)[1].holds


def test_cen_fails_without_the_entropy_exponent(monkeypatch):
    """Plain NPG on the soft Q (no pi^(1 - eta tau/(1-gamma)) damping) does not converge to the
    regularised optimum."""

    def no_damping(log_policy, q_tau, *, eta, tau, gamma):
        return npg.kl_prox_log(log_policy, q_tau, eta / (1 - gamma))

    monkeypatch.setattr(npg, "entropy_npg_step_log", no_damping)
    _, verdicts = run(npg_cen, npg_cen.QUICK_GRID[:2])
    assert not verdicts[0].holds


def test_mei_fails_for_pg_with_a_hidden_log_barrier(monkeypatch):
    """A log-barrier keeps the policy interior: the gap stalls, neither 5/(t c^2) nor 1/t hold."""
    monkeypatch.setattr(
        pg, "softmax_policy_gradient", lambda *a, **k: REAL_PG(*a, **{**k, "barrier": 0.05})
    )
    _, verdicts = run(pg_mei_bandit, pg_mei_bandit.QUICK_GRID)
    assert not verdicts[0].holds and not verdicts[1].holds


def test_chain_fails_for_a_slow_npg(monkeypatch):
    monkeypatch.setattr(
        npg, "natural_policy_gradient", lambda mdp, *, eta, **k: REAL_NPG(mdp, eta=eta / 50, **k)
    )
    _, verdicts = run(npg_chain, npg_chain.QUICK_GRID[:4])
    assert not verdicts[0].holds


def test_chain_growth_verdict_fails_when_pg_is_as_fast_as_npg():
    frame, _ = run(npg_chain, npg_chain.QUICK_GRID[:4])
    fake = frame.copy()
    npg_rows = fake[fake["method"] == "npg"].set_index("horizon")["iterations"]
    mask = fake["method"] == "softmax_pg"
    fake.loc[mask, "iterations"] = fake.loc[mask, "horizon"].map(npg_rows).to_numpy()
    assert not npg_chain.check(fake)[1].holds


def test_hnpg_fails_when_the_offline_data_are_dropped(monkeypatch):
    monkeypatch.setattr(npg, "hybrid_npg", lambda *a, **k: REAL_HNPG(*a, **{**k, "offline": None}))
    _, verdicts = run(npg_hnpg, [c for c in npg_hnpg.QUICK_GRID if c["horizon"] >= 4])
    assert not verdicts[0].holds

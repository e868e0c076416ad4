# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Distributions of returns
#
# The value $V^\pi(s)$ is the mean of the return $G = \sum_t \gamma^t R_{t+1}$; distributional
# dynamic programming computes its whole law $\eta^\pi(s)$.  The distributional Bellman
# operator $(T^\pi\eta)(s) = \mathbb E[(r + \gamma\,\cdot)_\# \eta(S')]$ doubles the number of
# atoms at every step, so each iterate is projected onto a fixed-size representation:
#
# * **categorical** (C51): probabilities on a fixed, equally spaced support, by the Cramér
#   projection $\Pi_C$; $\Pi_C T^\pi$ is a $\sqrt\gamma$-contraction in the sup-Cramér distance;
# * **quantile**: $m$ atoms of weight $1/m$ at the midpoint quantiles $\tau_i = (2i-1)/(2m)$,
#   by $\Pi_Q$; $\Pi_Q T^\pi$ is a $\gamma$-contraction in sup-$w_\infty$.
#
# We run both on a small chain, draw the projections, check them against Monte Carlo, and then
# see why optimising CVaR needs the *stock* $c$ (the return accumulated so far) in the state,
# checked against brute force over history-dependent policies.  `NB_QUICK=1` shrinks the
# problems.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from theory_rl.algorithms import distributional as D
from theory_rl.algorithms._stock_reference import brute_force
from theory_rl.bounds import rowland2018
from theory_rl.mdps import FiniteHorizonMDP, TabularMDP

QUICK = os.environ.get("NB_QUICK") == "1"
N_SAMPLES = 5_000 if QUICK else 50_000

# %% [markdown]
# ## A small chain with random rewards
#
# Five states in a row; action 0 moves left, action 1 moves right with probability 0.8
# (else stays).  The reward depends on the next state: 1 for landing on the right end,
# otherwise $-0.1$ -- a reward $r(s, a, s')$, which `TabularMDP` keeps in `rewards_sas`
# (the expected-value solvers use its mean).

# %%
S, A, gamma = 5, 2, 0.8
P = np.zeros((S, A, S))
for s in range(S):
    P[s, 0, max(s - 1, 0)] = 1.0
    P[s, 1, min(s + 1, S - 1)] += 0.8
    P[s, 1, s] += 0.2
r_sas = np.full((S, A, S), -0.1)
r_sas[:, :, S - 1] = 1.0
chain = TabularMDP(P, r_sas, gamma)
policy = np.ones(S, dtype=np.int64)  # always right
print(chain, chain.rewards_sas.shape)

# %% [markdown]
# ## The projections, as pictures
#
# $\Pi_C$ moves each atom $y$ to its two neighbouring support points, in proportion to its
# distance (the expectation of a triangular kernel); an atom *on* a support point keeps all
# its mass there (the floor/ceil code of C51 loses it).  $\Pi_Q$ reads the generalised inverse
# CDF at the midpoint levels.

# %%
rng = np.random.default_rng(0)
atoms = np.concatenate([rng.normal(-1, 0.3, 6), rng.normal(1.5, 0.5, 6)])
probs = rng.dirichlet(np.ones(atoms.size))
support = np.linspace(-2, 3, 11)
cat = D.categorical_projection(atoms, probs, support=support)
qua = D.quantile_projection(atoms, probs, n_quantiles=8)

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
order = np.argsort(atoms)
for ax, title in zip(axes, ("categorical projection", "quantile projection"), strict=True):
    ax.step(atoms[order], np.cumsum(probs[order]), where="post", color="k", label="law nu")
    ax.set_title(title)
axes[0].step(support, np.cumsum(cat), where="post", color="C3", label="Pi_C nu (11 atoms)")
axes[1].step(np.sort(qua), np.arange(1, 9) / 8, where="post", color="C0", label="Pi_Q nu (m = 8)")
for ax in axes:
    ax.set_xlabel("return")
    ax.set_ylabel("CDF")
    ax.legend()
plt.show()
assert abs(cat @ support - probs @ atoms) < 1e-12  # Pi_C keeps the mean inside the support
print("Cramér distance to nu:", float(D.cramer_distance(support, atoms, cat, probs)))
print("w1 distance of Pi_Q nu:", float(D.wasserstein_distance(qua, atoms, None, probs)))

# %% [markdown]
# ## Categorical and quantile DP on the chain

# %%
lo, hi = D._value_range(chain)
res_c = D.categorical_evaluation(
    chain, policy, support=np.linspace(lo, hi, 51), tol=1e-12, record=("change", "mean_error")
)
res_q = D.quantile_evaluation(chain, policy, n_quantiles=50, tol=1e-12)
print(res_c.message, "| max |E eta_C - V^pi| =", res_c.history["mean_error"][-1])
assert res_c.history["mean_error"][-1] < 1e-9  # the categorical fixed point keeps V^pi
change = res_c.history["change"][1:]
assert np.all(change[1:] <= np.sqrt(gamma) * change[:-1] + 1e-12)  # sqrt(gamma)-contraction

# %% [markdown]
# ## Against Monte Carlo
#
# Returns sampled from each state (a horizon long enough that $\gamma^H V_{\max} < 10^{-4}$),
# compared with both fixed points.  The categorical error is at most
# $\sqrt{\varsigma/(1-\gamma)}$ (Rowland et al. 2018, Prop. 3 form) plus the Dvoretzky-Kiefer-
# Wolfowitz band $\sqrt L\,\varepsilon$ of the sample CDF, $\varepsilon =
# \sqrt{\ln(2/\delta)/(2N)}$.  The chain's rewards depend on $s'$, so the trajectories are
# sampled here with plain NumPy (independently of the package), paying $r(s, a, s')$.

# %%
H = int(np.ceil(np.log(1e-4 / max(abs(lo), abs(hi))) / np.log(gamma)))
samples = np.zeros((S, N_SAMPLES))
gen = np.random.default_rng(1)
state = np.repeat(np.arange(S), N_SAMPLES).reshape(S, N_SAMPLES)
disc = 1.0
for _ in range(H):
    a = policy[state]
    u = gen.random(state.shape)
    cum = np.cumsum(P[state, a], axis=-1)
    nxt = (u[..., None] > cum).sum(-1)
    samples += disc * r_sas[state, a, nxt]
    state, disc = nxt, disc * gamma
eps = rowland2018.dkw_epsilon(N_SAMPLES, 0.01 / S)
theta = res_c.params["support"]
l2 = D.cramer_distance(np.broadcast_to(theta, (S, theta.size)), samples, res_c.params["probs"])
w1 = D.wasserstein_distance(res_q.params["atoms"], samples)
bound = rowland2018.categorical_spacing_bound(theta[1] - theta[0], gamma)
print("sup-Cramér(eta_C, MC) =", l2.max(), "<= bound + DKW =", bound + np.sqrt(hi - lo) * eps)
print("sup-w1(eta_Q, MC) =", w1.max())
assert l2.max() <= bound + np.sqrt(hi - lo) * eps + np.sqrt((hi - lo) * 1e-4)

fig, ax = plt.subplots(figsize=(5, 3))
s0 = 0
xs = np.sort(samples[s0])
ax.step(xs, np.arange(1, xs.size + 1) / xs.size, color="k", label=f"Monte Carlo (N={N_SAMPLES})")
ax.step(
    theta,
    np.cumsum(res_c.params["probs"][s0]),
    where="post",
    color="C3",
    label="categorical fixed point",
)
ax.step(
    res_q.params["atoms"][s0],
    np.arange(1, 51) / 50,
    where="post",
    color="C0",
    label="quantile fixed point",
)
ax.set_xlabel("return from the left end")
ax.set_ylabel("CDF")
ax.legend()
plt.show()

# %% [markdown]
# ## Why CVaR needs the stock
#
# $\mathrm{CVaR}_\alpha(G)$, the mean of the worst $\alpha$-fraction of returns, is not a sum
# of per-step rewards: the best action at time $t$ depends on the return collected so far.
# Rockafellar and Uryasev write $\mathrm{CVaR}_\alpha(G) = \max_b\{b - \alpha^{-1}\mathbb
# E(b - G)^+\}$; for a fixed $b$ the inner problem is an expected utility of $c + G$ with
# $c = -b$ and $f(x) = \min(x, 0)$, solved by DP on the augmented state $(s, c)$, with
# $c_{t+1} = (c_t + r_{t+1})/\gamma$.  The optimal policy is Markov in $(s, c)$ but
# history-dependent in $s$.
#
# On a small finite-horizon MDP with integer rewards we compare: the stock-augmented exact
# solution, the best of all history-dependent deterministic policies (brute force, exact
# return laws), and the best Markov $(t, s)$ and stationary policies.


# %%
def instance(seed, H):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(2), size=(2, 2))
    return FiniteHorizonMDP(P, rng.integers(-3, 4, size=(2, 2)).astype(float), H)


fh = instance(29, 4)  # an instance where history dependence pays
alphas = np.array([0.1, 0.25, 0.5, 1.0])
res = D.cvar_optimal_policy(fh, alphas)
for i, al in enumerate(alphas):
    hist = brute_force(fh, 0, alpha=al)[0]
    markov = brute_force(fh, 0, alpha=al, policy_class="markov")[0]
    stat = brute_force(fh, 0, alpha=al, policy_class="stationary")[0]
    print(
        f"alpha={al:4}: stock DP {res.values[i, 0]: .4f}  history {hist: .4f}  "
        f"Markov(t,s) {markov: .4f}  stationary {stat: .4f}"
    )
    assert abs(res.values[i, 0] - hist) < 1e-9
assert brute_force(fh, 0, alpha=0.25, policy_class="markov")[0] < res.values[1, 0] - 1e-6

# %% [markdown]
# ## The brute-force check on random instances
#
# 128 history-dependent policies per instance (S = A = 2, H = 3).

# %%
n_inst = 10 if QUICK else 40
worst = 0.0
for seed in range(n_inst):
    fh = instance(seed, 3)
    res = D.cvar_optimal_policy(fh, 0.25)
    for s0 in range(2):
        worst = max(worst, abs(res.values[s0] - brute_force(fh, s0, alpha=0.25)[0]))
print(f"max |stock DP - brute force| over {n_inst} instances: {worst:.2e}")
assert worst < 1e-9

"""PreferenceGame validation and the game generators."""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import nash
from theory_rl.mdps.games import (
    InvalidGameError,
    PreferenceGame,
    bradley_terry_fit,
    bradley_terry_game,
    condorcet_disagreement_game,
    cyclic_preference_game,
    random_preference_game,
)

RPS = [[0.5, 0.9, 0.1], [0.1, 0.5, 0.9], [0.9, 0.1, 0.5]]


def test_shapes_are_normalised_and_read_only():
    g = PreferenceGame(RPS, [0.2, 0.3, 0.5], beta=0.1)
    assert g.preferences.shape == (1, 3, 3) and g.reference_policy.shape == (1, 3)
    np.testing.assert_allclose(g.contexts, [1.0])
    assert not g.preferences.flags.writeable
    g2 = PreferenceGame(np.stack([RPS, RPS]), [1 / 3] * 3, beta=0.0, contexts=[0.25, 0.75])
    assert g2.n_contexts == 2 and g2.reference_policy.shape == (2, 3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"preferences": [[0.5, 1.2], [-0.2, 0.5]]}, "preferences"),
        ({"preferences": [[0.5, 0.7], [0.4, 0.5]]}, "preferences"),  # not complementary
        ({"preferences": [[0.6, 0.7], [0.3, 0.5]]}, "preferences"),  # diagonal
        ({"preferences": [[0.5, np.nan], [0.5, 0.5]]}, "preferences"),
        ({"preferences": np.full((2, 3), 0.5)}, "preferences"),  # not square
        ({"reference_policy": [0.7, 0.7]}, "reference_policy"),
        ({"reference_policy": [1.0, 0.0]}, "reference_policy"),  # zero with beta > 0
        ({"reference_policy": [1 / 3] * 3}, "reference_policy"),  # shape
        ({"beta": -0.1}, "beta"),
        ({"beta": "x"}, "beta"),
        ({"contexts": [0.5, 0.5]}, "contexts"),
    ],
)
def test_invalid_games_raise_naming_the_field(kwargs, field):
    args = {"preferences": [[0.5, 0.7], [0.3, 0.5]], "reference_policy": [0.5, 0.5], "beta": 0.1}
    args.update(kwargs)
    with pytest.raises(InvalidGameError, match=field):
        PreferenceGame(**args)


def test_zero_reference_allowed_when_unregularised():
    PreferenceGame([[0.5, 0.7], [0.3, 0.5]], [1.0, 0.0], beta=0.0)


@pytest.mark.parametrize("Y", [2, 7, 30])
def test_random_game_is_valid_and_reproducible(Y):
    a = random_preference_game(Y, beta=0.1, n_contexts=2, seed=3)
    b = random_preference_game(Y, beta=0.1, n_contexts=2, seed=3)
    np.testing.assert_array_equal(a.preferences, b.preferences)
    P = a.preferences
    np.testing.assert_allclose(P + P.transpose(0, 2, 1), 1.0, atol=1e-15)
    assert not np.array_equal(P[0], P[1])


def test_cyclic_game_has_uniform_equilibrium_and_no_bradley_terry_reward():
    g = cyclic_preference_game(5, beta=0.0)
    assert (g.preferences[0] > 0.5).sum(axis=1).tolist() == [2] * 5  # beats half of the others
    np.testing.assert_allclose(nash.unregularized_equilibrium(g).policy, np.full((1, 5), 0.2))
    _, residual = bradley_terry_fit(g)
    assert residual[0] > 1.0
    with pytest.raises(ValueError, match="odd"):
        cyclic_preference_game(4, beta=0.1)


def test_bradley_terry_game_fits_exactly_and_condorcet_winner_is_the_argmax():
    r = np.array([0.3, -1.0, 2.0, 0.5])
    g = bradley_terry_game(r, beta=0.0)
    fitted, residual = bradley_terry_fit(g)
    assert residual[0] < 1e-12
    np.testing.assert_allclose(fitted[0], r - r.mean(), atol=1e-12)
    np.testing.assert_allclose(nash.unregularized_equilibrium(g).policy[0], np.eye(4)[2], atol=1e-9)


def test_condorcet_disagreement_game():
    g = condorcet_disagreement_game(4, beta=0.0)
    fitted, residual = bradley_terry_fit(g)
    assert residual[0] > 0.1 and int(np.argmax(fitted[0])) == 1  # RLHF's reward picks 1
    np.testing.assert_allclose(nash.unregularized_equilibrium(g).policy[0], np.eye(4)[0], atol=1e-9)


def test_generator_arguments_are_checked():
    with pytest.raises(ValueError, match="n_responses"):
        random_preference_game(0, beta=0.1)
    with pytest.raises(ValueError, match="margin"):
        cyclic_preference_game(3, beta=0.1, margin=0.7)

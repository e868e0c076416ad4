"""theory_rl: exact and sampled RL-theory algorithms whose stated bounds are checked by measurement."""

__version__ = "0.1.0"

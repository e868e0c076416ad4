"""Softmax policy gradient: Mei et al.'s rate on a bandit."""

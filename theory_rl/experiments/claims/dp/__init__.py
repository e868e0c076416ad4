"""Dynamic programming: value iteration's contraction and span stopping rule, policy
iteration's monotone improvement (Puterman, 1994)."""

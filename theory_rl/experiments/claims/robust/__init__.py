"""Robust MDPs: the robust operator's contraction and limits, the saddle point against brute
force and LPs, the inner oracles against scipy, IWOCS's certificate and stall, the IWOCS figure
on the windy walk, DRPG's gap to robust VI."""

"""Nash learning from human feedback: Nash mirror-prox rates, its comparison with Nash-MD and
OMD, and sampled mirror-prox (Tiapkin et al.; Munos et al.)."""

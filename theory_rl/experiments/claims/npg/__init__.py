"""Natural policy gradient: Agarwal et al.'s softmax rate and chain example, Cen et al.'s
entropy-regularised linear rate, hybrid NPG (Zhou et al.)."""

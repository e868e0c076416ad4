"""Private numba kernels for random problem generation (no logic beyond what public wrappers use).

Each kernel takes a :class:`numpy.random.Generator` (numba advances the same bit generator, so a
seed fixes the output) plus contiguous ``int64``/``float64`` arrays, and writes into ``out``
arrays.  Public wrappers live in :mod:`theory_rl.mdps.generators` and coerce dtypes, so each
kernel compiles exactly one signature.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []

_SMALL = 32  # rows up to this branching are sorted by insertion, larger ones by np.sort
_TWO53 = 9007199254740992  # 2**53: Generator.random() returns k / 2**53, k uniform in [0, 2**53)


@njit(cache=True)
def _uniform_below(rng, n, limit):  # pragma: no cover
    """Exactly uniform int in ``[0, n)`` from ``rng.random()``; ``limit = 2**53 - 2**53 % n``.

    ``rng.random()`` is ``k / 2**53`` with ``k`` uniform on 53 bits, so ``k`` is recovered
    exactly; ``k`` at or above ``limit`` (probability ``< n / 2**53``) is redrawn, and
    ``k % n`` is then uniform.  About 10x faster than ``rng.integers`` inside numba 0.6x.
    """
    while True:
        k = np.int64(rng.random() * 9007199254740992.0)
        if k < limit:
            return k % n


@njit(cache=True)
def _garnet_rows(rng, perm, branching, dirichlet, indices_out, data_out):  # pragma: no cover
    """Fill ``len(indices_out) // branching`` garnet rows.

    Row ``i`` occupies ``[i*b, (i+1)*b)`` of both outputs: ``b`` distinct next states, sorted
    increasingly, drawn uniformly without replacement from ``range(S)``, ``S = len(perm)``;
    and their probabilities, either the gaps between ``b - 1`` sorted uniform cut points on
    [0, 1] (``dirichlet=False``) or normalised standard exponentials, i.e. Dirichlet(1, ..., 1)
    (``dirichlet=True``).  A row with a zero gap (a tie between cut points, probability about
    b**2 / 2**53) or a zero exponential is redrawn, so every listed successor has positive
    probability.

    Without-replacement sampling: for ``b <= 32`` and ``4 b <= S``, draw with replacement and
    redraw repeats (uniform over b-subsets, and no O(S) memory traffic); otherwise a partial
    Fisher-Yates shuffle of ``perm``, which must hold ``arange(S)`` and is restored after
    each row, so a row costs O(b log b) whatever S is.
    """
    n_states = perm.shape[0]
    b = branching
    n_rows = indices_out.shape[0] // b
    swaps = np.empty(b, np.int64)
    cuts = np.empty(b + 1, np.float64)
    rejection = b <= _SMALL and 4 * b <= n_states
    limit = _TWO53 - _TWO53 % n_states
    for row in range(n_rows):
        base = row * b
        if rejection:
            # Draw uniformly, redraw repeats (each draw succeeds with probability >= 3/4), and
            # insert in increasing order; touches no O(S) memory, so large S stays fast.
            for j in range(b):
                while True:
                    v = _uniform_below(rng, n_states, limit)
                    fresh = True
                    for i in range(base, base + j):
                        if indices_out[i] == v:
                            fresh = False
                            break
                    if fresh:
                        break
                i = base + j
                while i > base and indices_out[i - 1] > v:
                    indices_out[i] = indices_out[i - 1]
                    i -= 1
                indices_out[i] = v
        else:
            # The first b entries of a partially shuffled perm, sorted; then perm is restored.
            for j in range(b):
                m = n_states - j
                k = j + _uniform_below(rng, m, _TWO53 - _TWO53 % m)
                swaps[j] = k
                tmp = perm[j]
                perm[j] = perm[k]
                perm[k] = tmp
            indices_out[base : base + b] = np.sort(perm[:b])
            for j in range(b - 1, -1, -1):
                k = swaps[j]
                tmp = perm[j]
                perm[j] = perm[k]
                perm[k] = tmp
        # Probabilities.
        if dirichlet:
            while True:
                total = 0.0
                ok = True
                for j in range(b):
                    e = rng.standard_exponential()
                    if e <= 0.0:
                        ok = False
                    data_out[base + j] = e
                    total += e
                if ok:
                    break
            for j in range(b):
                data_out[base + j] /= total
        else:
            while True:
                cuts[0] = 0.0
                cuts[b] = 1.0
                if b <= _SMALL:
                    for j in range(1, b):  # insertion sort of the cut points
                        u = rng.random()
                        i = j
                        while i > 1 and cuts[i - 1] > u:
                            cuts[i] = cuts[i - 1]
                            i -= 1
                        cuts[i] = u
                else:
                    for j in range(1, b):
                        cuts[j] = rng.random()
                    cuts[1:b] = np.sort(cuts[1:b])
                ok = True
                for j in range(b):
                    gap = cuts[j + 1] - cuts[j]
                    if gap <= 0.0:
                        ok = False
                    data_out[base + j] = gap
                if ok:
                    break

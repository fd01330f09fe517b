"""Hypothesis strategies shared by the tests (in the spirit of minitorch's
``tests/strategies.py``): inputs over the whole supported range, with the
extremes and the kink at 0 drawn often."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

LIMIT = 1e4  # the range the book promises: |x| up to 1e4

EXTREMES = [-LIMIT, LIMIT, 0.0, -0.0, 1e-300, -1e-300, 30.0, -30.0, 710.0,
            -710.0, 745.0, -745.0]

reals = st.one_of(
    st.sampled_from(EXTREMES),
    st.floats(-LIMIT, LIMIT, allow_nan=False, allow_infinity=False),
    st.floats(-5, 5, allow_nan=False),  # where the functions bend
)


def arrays(dtype=np.float64, max_dims=3, max_side=5, min_side=0,
           elements=reals):
    """Arrays of any shape (scalars and empty arrays included)."""
    return hnp.arrays(
        dtype, hnp.array_shapes(min_dims=0, max_dims=max_dims,
                                min_side=min_side, max_side=max_side),
        elements=elements)


alphas = st.one_of(st.sampled_from([0.0, 0.01, 0.1, 1.0]),
                   st.floats(0, 2, allow_nan=False))

logits = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                 max_side=5),
    elements=st.floats(-LIMIT, LIMIT, allow_nan=False))

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


# ------------------------------------------------------------- bad input
# Shared by the robustness tests (issue 12): every public function, fed
# non-finite values, wrong dtypes or degenerate shapes, must give the right
# result or a ValueError/TypeError that names the argument; never a hang,
# another exception, or a finite wrong number.

NONFINITE = [np.nan, np.inf, -np.inf]


@st.composite
def with_nonfinite(draw, shape, dtype=np.float64):
    """A finite array of ``shape`` with at least one NaN or infinity."""
    arr = draw(hnp.arrays(dtype, shape, elements=st.floats(
        -10, 10, allow_nan=False, width=np.dtype(dtype).itemsize * 8)))
    if arr.size:
        flat = arr.reshape(-1)
        flat[draw(st.integers(0, arr.size - 1))] = draw(
            st.sampled_from(NONFINITE))
    return arr


def wrong_kind(shape):
    """Arrays of ``shape`` that are not real numbers (complex, str,
    object)."""
    return st.sampled_from([
        np.zeros(shape, complex), np.full(shape, "a"),
        np.full(shape, None, dtype=object)])


degenerate_shapes = st.sampled_from([(), (0,), (1,), (0, 3), (3, 0),
                                     (1, 1), (0, 0, 0)])


def correct_or_named_error(call, *names):
    """Run ``call()``; a ValueError/TypeError must name one of ``names``.

    Returns ``(result, None)`` or ``(None, error)``; any other exception
    propagates (and fails the test that called it).
    """
    try:
        return call(), None
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(name in message for name in names), (
            f"{type(error).__name__} does not name any of {names}: "
            f"{message}")
        return None, error

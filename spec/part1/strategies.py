"""Shared hypothesis strategies for Part 1 (placeholder; replaced by the full module)."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

def image_batches(nonzero=False):
    elements = st.floats(0.5, 5) if nonzero else st.floats(-5, 5, allow_subnormal=False)
    shapes = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3))
    return shapes.flatmap(lambda sh: hnp.arrays(np.float64, sh, elements=elements))

"""photoclip: a desktop photo organizer that understands pictures."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# numpy's OpenBLAS threads busy-wait after each BLAS call and starve torch's threads: a query
# scored with numpy right before its text is encoded took ~100 ms instead of ~10 ms on two
# cores. torch does the heavy maths; numpy's products here are small. Set before numpy loads;
# a user's explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

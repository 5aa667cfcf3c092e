"""The benchmark suite: `fastseg bench`. Cases live in the package (one module per op family) so
that an installed wheel can run them; each reports the median time, GFLOP/s or GB/s, the percent
of the machine's peak measured by fastseg's own kernels, and the speed ratio against PyTorch and
SciPy measured in the same run."""

from .case import Case, registry
from .runner import run

__all__ = ["Case", "registry", "run"]

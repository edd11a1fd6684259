"""The CUDA backend of ``sadbench.integrate``: explicit Runge–Kutta ensembles on an NVIDIA GPU (numba-cuda).

``import sadbench`` does not import this package, and within it only :mod:`~sadbench.cuda.device` imports
numba-cuda. The kernels run the CPU driver's algorithm (:mod:`sadbench.solvers.driver`): every member on its
own step size, with the step decisions of :mod:`sadbench.solvers.control` compiled as device functions
(Hairer's PI controller, ``rtol``/``atol``, ``dt_min``/``dt_max``, ``max_steps``), save times hit exactly,
the same observables and status codes; the host then runs the detectors on the saved series exactly as for
the CPU backend. Any :class:`~sadbench.solvers.rk.ExplicitRungeKutta` integrator runs, built-in or plugin:
the tableau travels packed as on the CPU.

Two layouts of one kernel source (``layout=``):

- ``"thread"``: one thread per member; each member's vectors are stored member-minor ``[row, p, member]``,
  so the threads of a warp read consecutive addresses; the gradient is accumulated one data point at a time.
- ``"block"``: one block per member. A chunk of points is propagated forward and backward through shared
  memory a layer at a time, the threads over the (unit, point) pairs of the layer; then the threads, now
  over the parameters, reduce ∇L = Σ_points δ·aᵀ out of shared memory. The step's vector updates, norms
  and error norms are spread over the threads too (tree reductions in shared memory).

``"auto"`` picks the block layout unless there are so few data points that a block would leave most of its
warp idle (measured: :func:`~sadbench.cuda.geometry.choose_layout`).

CUDA has no first-class functions, so each activation × loss × architecture × layout is compiled into its
own kernel (:mod:`~sadbench.cuda.kernel`, with :mod:`~sadbench.cuda.gradient` and
:mod:`~sadbench.cuda.primitives`): the activation's and the loss's scalar functions become device functions
by compiling their Python source for CUDA (:mod:`~sadbench.cuda.translate`), so a third-party plugin's
activation runs on the GPU without a CUDA-specific version. Each layer's passes are device functions of their
own with the layer's widths and offsets as constants, and the kernels are cached on disk (numba-cuda's cache,
its key extended by :func:`sadbench.jit.source_digest`). :mod:`~sadbench.cuda.launch` runs them.
"""

from sadbench.cuda.device import available, require, simulated
from sadbench.cuda.geometry import (
    BLOCK_THREADS, LAYOUTS, SHARED_BYTES, Geometry, block_threads, choose_layout, chunk_points,
)
from sadbench.cuda.launch import Program, check_method, run_chunks, supports
from sadbench.cuda.translate import cacheable, device_from_source, device_function
from sadbench.jit import source_digest

__all__ = [
    "BLOCK_THREADS", "LAYOUTS", "SHARED_BYTES", "Geometry", "Program", "available", "block_threads", "cacheable",
    "check_method", "choose_layout", "chunk_points", "device_from_source", "device_function", "require",
    "run_chunks", "simulated", "source_digest", "supports",
]

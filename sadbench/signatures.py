"""The numba types of the compiled contracts between problems, integrators and the driver.

Integrators and the driver receive the problem's functions as type-erased first-class functions
(``FUNCTIONS``), so they compile once per process (and are cached on disk), whatever the activation and
loss; only the gradient kernel is specialised per activation and loss. An integrator plugin compiles its
step with ``@njit(ATTEMPT)``.
"""

import warnings

from numba import types
from numba.core.errors import NumbaExperimentalFeatureWarning

warnings.filterwarnings("ignore", message=".*First-class function type", category=NumbaExperimentalFeatureWarning)

VECTOR = types.float64[::1]
MATRIX = types.float64[:, ::1]

#: (X (n, d), Y (n, k), widths [d, ..., k], bias 0/1, scratch of sadbench.model.layout.work_size floats)
PROBLEM = types.Tuple((MATRIX, MATRIX, types.int64[::1], types.int64, VECTOR))

#: loss_grad(problem, theta, grad, sign) -> L; writes sign·∇L(θ) into grad
LOSS_GRAD = types.float64(PROBLEM, VECTOR, VECTOR, types.float64)
#: rhs(problem, theta, out) -> L; writes the flow's vector field -∇L(θ) into out
RHS = types.float64(PROBLEM, VECTOR, VECTOR)
#: hvp(problem, theta, v, out) -> L; writes ∇²L(θ)·v into out
HVP = types.float64(PROBLEM, VECTOR, VECTOR, VECTOR)
#: hessian(problem, theta, H) -> L; writes ∇²L(θ) into H (P, P)
HESSIAN = types.float64(PROBLEM, VECTOR, MATRIX)

#: (rhs, hvp, hessian) as first-class functions
FUNCTIONS = types.Tuple((types.FunctionType(RHS), types.FunctionType(HVP), types.FunctionType(HESSIAN)))

#: attempt(functions, problem, params, t, y, f, h, y_new, f_new, work, rtol, atol) -> (err, n_grad, L_new)
#: tries one step of size h from y (f = -∇L(y)), writes y_new and f_new = -∇L(y_new), returns the scaled
#: error norm (accept when ≤ 1; 0 for fixed-step methods), the gradient evaluations used and L(y_new).
ATTEMPT = types.Tuple((types.float64, types.float64, types.float64))(
    FUNCTIONS, PROBLEM, VECTOR, types.float64, VECTOR, VECTOR, types.float64, VECTOR, VECTOR, VECTOR,
    types.float64, types.float64,
)

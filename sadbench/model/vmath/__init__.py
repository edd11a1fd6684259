"""Special functions that LLVM can vectorise: exp, expm1, log, log1p, tanh, erf, erfc, ndtr, logistic, softplus.

numba calls libm for ``math.exp``, ``math.erf``, ``math.tanh``... and, with a stock llvmlite (no SVML), those
calls stay scalar, so a loop over a layer's pre-activations cannot be vectorised. The functions here are
written without branches: every interval of a piecewise algorithm is computed and the result is *selected*,
the exponent scaling is done with integer bit manipulation (:func:`as_int`, :func:`as_float`), so a loop
that calls them compiles to AVX2/AVX-512 code. They are accurate to a few ulp over the whole double range
(tests/test_vmath.py measures it), and honour IEEE special values: NaN in gives NaN out, ±inf and ±0 give the
limits, results that underflow go through the subnormals.

Algorithms (log's and erf's coefficients are fdlibm's, Sun Microsystems 1993, "freely granted, provided
that this notice is preserved"; written down here from their hexadecimal words; the others were fitted for
sadbench, as their comments say, and tools/fit_vmath.py regenerates and checks them):

- exp, expm1: Cody–Waite reduction x = k·ln2 + r, |r| ≤ ln2/2, k rounded by adding 1.5·2⁵² (no
  float-integer conversions), expm1(r) by a degree-11 minimax polynomial (two chains in r², for latency),
  then 2^k built from exponent bits: as two factors where results may overflow, as one prescaled factor
  2^(k+54)·2⁻⁵⁴ for the x ≤ 0 the activations need; either way subnormal results round once.
  :func:`_reduce_clamped` also takes a two-part argument hi + lo, for exp(-x²) without the rounding of x².
  The loops are bound by the multiply-add count (Zen 4 issues one 512-bit FMA per cycle), hence each
  term saved.
- log, log1p: fdlibm e_log.c (log(1+f) = f - f²/2 + s(f²/2 + R(s²)), s = f/(2+f), mantissa in [√½, √2)),
  with log1p's rounding of 1+x carried as a first-order correction (as fdlibm s_log1p.c), times 1/(1+x)
  so that softplus shares that division with the logistic function.
- tanh: -u/(u+2) with u = expm1(-2|x|), sign restored (fdlibm s_tanh.c uses the same identities).
- erf, erfc: fdlibm s_erf.c, its four intervals evaluated as *one* rational function whose coefficients are
  selected per lane; the tail exp(-x²-0.5625+R/S) uses the two-part exp.
- φ, Φ (:func:`ndtr_pdf`): φ(t) = e^{-t²/2}/√(2π) with t² exact (FMA) and 1/√(2π) folded into the
  polynomial; Φ(-t) = φ(t)·P(t)/(t·P(t) + D(t)), one rational for the whole range (no selects) and one
  division, a few ulp down to the subnormals.

The package holds one module per family (``exponential``, ``logarithm``, ``smooth``, ``error_function``,
``normal``) on the bit-level pieces of ``bits``; this module gathers their public names, so that
``vmath.exp`` or ``vmath.ndtr_pdf_no_nan`` reads as one library.

Every function is compiled with ``fastmath={"contract"}`` (FMA contraction only: reassociation would undo
the compensated steps, and no-NaN/no-inf flags would drop the special-value selects) and
``error_model="numpy"`` (no zero-division branch), and is force-inlined (LLVM ``alwaysinline``) so that it
keeps these flags inside a caller compiled with others.
"""

from sadbench.model.vmath.bits import FASTMATH, OPTIONS, as_float, as_int, fma
from sadbench.model.vmath.error_function import erf, erfc
from sadbench.model.vmath.exponential import E1, E2, E3, E4, E5, E6, E7, E8, E9, exp, exp_expm1, exp_expm1_neg, expm1
from sadbench.model.vmath.logarithm import log, log1p
from sadbench.model.vmath.normal import (
    MD1, MD2, MD3, MD4, MD5, MD6, MD7, MD8, MD9, MP0, MP1, MP2, MP3, MP4, MP5, MP6, MP7, MP8, MP9, MP10, NDTR_CLAMP,
    ndtr, ndtr_pdf, ndtr_pdf_no_nan, normal_pdf,
)
from sadbench.model.vmath.smooth import logistic, softplus, tanh

__all__ = [
    "FASTMATH", "OPTIONS", "as_float", "as_int", "fma", "erf", "erfc", "exp", "exp_expm1", "exp_expm1_neg", "expm1",
    "log", "log1p", "logistic", "softplus", "tanh", "ndtr", "ndtr_pdf", "ndtr_pdf_no_nan", "normal_pdf",
    "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "MP0", "MP1", "MP2", "MP3", "MP4", "MP5", "MP6", "MP7", "MP8",
    "MP9", "MP10", "MD1", "MD2", "MD3", "MD4", "MD5", "MD6", "MD7", "MD8", "MD9", "NDTR_CLAMP",
]

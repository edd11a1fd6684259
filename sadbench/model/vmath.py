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

Every function is compiled with ``fastmath={"contract"}`` (FMA contraction only: reassociation would undo
the compensated steps, and no-NaN/no-inf flags would drop the special-value selects) and
``error_model="numpy"`` (no zero-division branch), and is force-inlined (LLVM ``alwaysinline``) so that it
keeps these flags inside a caller compiled with others.
"""

import math
import struct

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FASTMATH = {"contract"}
OPTIONS = dict(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=True)


def _from_words(hi, lo):
    """The double whose IEEE-754 bits are the 32-bit words ``hi``, ``lo`` (as fdlibm writes constants)."""
    return struct.unpack(">d", struct.pack(">II", hi, lo))[0]


# --- bit manipulation --------------------------------------------------------------------------------


@intrinsic
def as_int(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a bitcast: vectorisable, no memory round trip)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def as_float(typingctx, i):
    """The float64 whose IEEE-754 bits are the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a·b + c with one rounding (``llvm.fma``; a hardware FMA on every x86-64 with AVX2)."""
    if not all(t == types.float64 for t in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(double, [double] * 3), "llvm.fma.f64")
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


# --- exp and expm1 -------------------------------------------------------------------------------------

LOG2E = 1.4426950408889634
LN2_HI = _from_words(0x3FE62E42, 0xFEE00000)  # 32 significant bits: k·LN2_HI is exact for |k| < 2^20
LN2_LO = _from_words(0x3DEA39EF, 0x35793C76)
SHIFT = 6755399441055744.0  # 1.5·2^52: y + SHIFT rounds y to the nearest integer k, kept in the low bits
SHIFT_BITS = 0x4338000000000000  # the bits of SHIFT: as_int(y + SHIFT) = SHIFT_BITS + k
# expm1(r) = r + r²·(1/2 + r·E(r)) for |r| ≤ ln2/2, E of degree 8 fitted for sadbench (Lawson-weighted least
# squares on 150 Chebyshev nodes of |r| ≤ 1.003·ln2/2, mpmath at 200 bits): truncation error < 1.25e-16·r², under
# 0.4 ulp of expm1(r) and 0.2 ulp of e^r; two terms fewer than the degree-13 Taylor polynomial it replaced.
E1, E2, E3, E4, E5, E6, E7, E8, E9 = (
    0.1666666666666667, 0.04166666666663555, 0.008333333333323553, 0.0013888888913905339,
    0.0001984126988383079, 2.4801524790092094e-05, 2.7557244594079455e-06, 2.7618869866532143e-07,
    2.510940884850806e-08,
)
EXP_LOW, EXP_HIGH = -746.0, 710.0  # beyond: exp underflows to 0 / overflows to inf
PRESCALE = 2.0**-54  # 2^(k+54) is a normal number for every k ≥ -1076 (see _pow2_prescaled)
PRESCALED_BIAS = (1023 + 54) << 52


@njit(**OPTIONS)
def _reduce_clamped(h, lo):
    """(kd, r) with h + lo = k·ln2 + r, |r| ≲ ln2/2, for -746 ≤ h ≤ 710 and |lo| ≲ 1. k is rounded by adding
    SHIFT (no float-integer conversions): kd = k + SHIFT, whose low bits hold k (:func:`_k`)."""
    kd = (h + lo) * LOG2E + SHIFT
    kf = kd - SHIFT
    r = ((h - kf * LN2_HI) + lo) - kf * LN2_LO
    return kd, r


@njit(**OPTIONS)
def _reduce_one(h):
    """:func:`_reduce_clamped` for a one-part argument: ``lo = 0`` would not be free, LLVM keeps the
    additions of 0.0 (-0 + 0 is +0)."""
    kd = h * LOG2E + SHIFT
    kf = kd - SHIFT
    r = (h - kf * LN2_HI) - kf * LN2_LO
    return kd, r


@njit(**OPTIONS)
def _clamp(x):
    """x clamped to [-746, 710], beyond which exp under- or overflows; NaN maps to -746 (callers select NaN
    themselves), so that k is always a small integer."""
    h = x if x > EXP_LOW else EXP_LOW
    return h if h < EXP_HIGH else EXP_HIGH


@njit(**OPTIONS)
def _k(kd):
    """The integer k of a reduction's kd = k + SHIFT."""
    return as_int(kd) - SHIFT_BITS


@njit(**OPTIONS)
def _expm1_poly(r):
    """expm1(r) for |r| ≤ ln2/2 + a little, to 1/2 ulp plus the rounding of r; the even and the odd powers of
    r in 1/2 + r·E(r) as two chains in r² (half the latency of one Horner chain; measured 3-5% faster in the
    activations' loops, which are not all bound by the FMA count alone)."""
    r2 = r * r
    a = E8
    a = a * r2 + E6
    a = a * r2 + E4
    a = a * r2 + E2
    a = a * r2 + 0.5
    b = E9
    b = b * r2 + E7
    b = b * r2 + E5
    b = b * r2 + E3
    b = b * r2 + E1
    return fma(r2, b * r + a, r)


@njit(**OPTIONS)
def _pow2(k):
    """2^k for -1022 ≤ k ≤ 1023, built from its exponent bits."""
    return as_float((k + 1023) << 52)


@njit(**OPTIONS)
def _pow2_prescaled(kd):
    """2^(k+54) for the k of a reduction's kd, -1076 ≤ k ≤ 969: k's bits shifted into the exponent field
    (SHIFT's own bits fall off the top). A result that must go through the subnormals is then formed as
    (y·2^(k+54))·2^-54: the first product is exact, the second rounds once."""
    return as_float((as_int(kd) << 52) + PRESCALED_BIAS)


@njit(**OPTIONS)
def _exp_reduced(kd, r):
    """e^r·2^k, 2^k applied as two factors 2^(k//2)·2^(k - k//2), both normal for -1077 ≤ k ≤ 1024, so that
    subnormal results round once."""
    k = _k(kd)
    k1 = k >> 1
    s1 = _pow2(k1)
    return fma(_expm1_poly(r), s1, s1) * _pow2(k - k1)


@njit(**OPTIONS)
def _exp_parts(hi, lo):
    """exp(hi + lo) for a two-part argument (|lo| ≲ 1), NaN not handled."""
    kd, r = _reduce_clamped(_clamp(hi), lo)
    return _exp_reduced(kd, r)


@njit(**OPTIONS)
def exp(x):
    """e^x."""
    kd, r = _reduce_one(_clamp(x))
    y = _exp_reduced(kd, r)
    return y if x == x else x


@njit(**OPTIONS)
def exp_expm1(x):
    """(e^x, e^x - 1) from one reduction, each to a few ulp."""
    kd, r = _reduce_one(_clamp(x))
    k = _k(kd)
    em = _expm1_poly(r)
    k1 = k >> 1
    s1 = _pow2(k1)
    e = fma(em, s1, s1) * _pow2(k - k1)
    # expm1 = 2^k·em + (2^k - 1); for k < -60 it is -1 to double precision, for k = 1024 (x > 709.43)
    # use 2^1023 and double at the end so that nothing overflows before the final product.
    km = min(max(k, -60), 1023)
    s = _pow2(km)
    m = fma(s, em, s - 1.0) * _pow2(k - km if k > km else 0)
    m = m if x != 0.0 else x  # keeps expm1(-0) = -0
    return (e, m) if x == x else (x, x)


@njit(**OPTIONS)
def expm1(x):
    """e^x - 1, accurate for small |x|."""
    return exp_expm1(x)[1]


@njit(**OPTIONS)
def exp_expm1_neg(x):
    """(e^x, e^x - 1) for x ≤ 0 (or NaN): the cheaper form used by the activations, which only ever
    exponentiate -|z|: one clamp, 2^k as one prescaled factor."""
    kd, r = _reduce_one(x if x > EXP_LOW else EXP_LOW)
    em = _expm1_poly(r)
    s = _pow2_prescaled(kd)
    e = fma(em, s, s) * PRESCALE
    p = s * PRESCALE  # 2^k: exact, or 0 where e^x - 1 is -1 anyway
    m = fma(p, em, p - 1.0)
    m = m if x != 0.0 else x
    return (e, m) if x == x else (x, x)


# --- log and log1p -------------------------------------------------------------------------------------

LG1 = _from_words(0x3FE55555, 0x55555593)
LG2 = _from_words(0x3FD99999, 0x9997FA04)
LG3 = _from_words(0x3FD24924, 0x94229359)
LG4 = _from_words(0x3FCC71C5, 0x1D8E78AF)
LG5 = _from_words(0x3FC74664, 0x96CB03DE)
LG6 = _from_words(0x3FC39A09, 0xD078C69F)
LG7 = _from_words(0x3FC2F112, 0xDF3E5244)
SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # bits of √½: mantissas are normalised to [√½, √2)
TWO54 = 18014398509481984.0
SMALLEST_NORMAL = 2.2250738585072014e-308


@njit(**OPTIONS)
def _log_core(ix, k0, lo):
    """log(2^k0·x) + lo for the bits ``ix`` of a positive, finite, normal x and a small correction ``lo``
    (absolute, |lo| ≪ 1) added where it loses nothing."""
    tmp = ix - SQRT_HALF_BITS
    k = tmp >> 52
    z = as_float(ix - (k << 52))  # x / 2^k, in [√½, √2)
    kf = float(k) + k0
    f = z - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z2 = s * s
    w = z2 * z2
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z2 * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    R = t2 + t1
    return kf * LN2_HI - ((hfsq - (s * (hfsq + R) + (kf * LN2_LO + lo))) - f)


@njit(**OPTIONS)
def log(x):
    """Natural logarithm: -inf at ±0, NaN below 0."""
    sub = x < SMALLEST_NORMAL  # subnormals are scaled by 2^54 first
    y = _log_core(as_int(x * TWO54 if sub else x), -54.0 if sub else 0.0, 0.0)
    y = y if x < math.inf else x
    return y if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


@njit(**OPTIONS)
def _log1p(x):
    """log(1 + x) for finite x > -1 (1 + x is then never subnormal), special values not handled."""
    u = 1.0 + x
    # u - 1 is exact, and so is x - (u - 1): the rounding error of 1 + x, carried as log(u + c) ≈ log(u) + c/u.
    # 1/u rather than a division by u: softplus shares it with the logistic function's 1/(1 + e).
    c = (x - (u - 1.0)) * (1.0 / u)
    return _log_core(as_int(u), 0.0, c)


@njit(**OPTIONS)
def log1p(x):
    """log(1 + x), accurate for small |x|."""
    u = 1.0 + x
    y = _log1p(x)
    y = y if x < math.inf else x
    y = y if u > 0.0 else (-math.inf if u == 0.0 else math.nan)
    return y if x != 0.0 else x


# --- tanh, logistic, softplus ---------------------------------------------------------------------------


@njit(**OPTIONS)
def tanh(x):
    """Hyperbolic tangent."""
    u = exp_expm1_neg(-2.0 * abs(x))[1]
    t = math.copysign(-u / (u + 2.0), x)
    return t if x == x else x


@njit(**OPTIONS)
def logistic(x):
    """1 / (1 + e^-x), without overflow for either sign."""
    e = exp_expm1_neg(-abs(x))[0]
    r = 1.0 / (1.0 + e)
    y = r if x >= 0.0 else e * r
    return y if x == x else x


@njit(**OPTIONS)
def softplus(x):
    """log(1 + e^x), without overflow; relative accuracy in both tails."""
    e = exp_expm1_neg(-abs(x))[0]
    y = (x if x > 0.0 else 0.0) + _log1p(e)
    return y if x == x else x


# --- erf, erfc, ndtr -----------------------------------------------------------------------------------

ERX = _from_words(0x3FEB0AC1, 0x60000000)  # erf(1) rounded to 24 bits
# [0, 0.84375): erf(x) = x + x·P(x²)/Q(x²)
PP = (_from_words(0x3FC06EBA, 0x8214DB68), _from_words(0xBFD4CD7D, 0x691CB913), _from_words(0xBF9D2A51, 0xDBD7194F),
      _from_words(0xBF77A291, 0x236668E4), _from_words(0xBEF8EAD6, 0x120016AC))
QQ = (_from_words(0x3FD97779, 0xCDDADC09), _from_words(0x3FB0A54C, 0x5536CEBA), _from_words(0x3F74D022, 0xC4D36B0F),
      _from_words(0x3F215DC9, 0x221C1A10), _from_words(0xBED09C43, 0x42A26120))
# [0.84375, 1.25): erf(x) = erx + P(x-1)/Q(x-1)
PA = (_from_words(0xBF6359B8, 0xBEF77538), _from_words(0x3FDA8D00, 0xAD92B34D), _from_words(0xBFD7D240, 0xFBB8C3F1),
      _from_words(0x3FD45FCA, 0x805120E4), _from_words(0xBFBC6398, 0x3D3E28EC), _from_words(0x3FA22A36, 0x599795EB),
      _from_words(0xBF61BF38, 0x0A96073F))
QA = (_from_words(0x3FBB3E66, 0x18EEE323), _from_words(0x3FE14AF0, 0x92EB6F33), _from_words(0x3FB2635C, 0xD99FE9A7),
      _from_words(0x3FC02660, 0xE763351F), _from_words(0x3F8BEDC2, 0x6B51DD1C), _from_words(0x3F888B54, 0x5735151D))
# [1.25, 1/0.35): erfc(x) = exp(-x² - 0.5625 + R(1/x²)/S(1/x²)) / x
RA = (_from_words(0xBF843412, 0x600D6435), _from_words(0xBFE63416, 0xE4BA7360), _from_words(0xC0251E04, 0x41B0E726),
      _from_words(0xC04F300A, 0xE4CBA38D), _from_words(0xC0644CB1, 0x84282266), _from_words(0xC067135C, 0xEBCCABB2),
      _from_words(0xC0545265, 0x57E4D2F2), _from_words(0xC023A0EF, 0xC69AC25C))
SA = (_from_words(0x4033A6B9, 0xBD707687), _from_words(0x4061350C, 0x526AE721), _from_words(0x407B290D, 0xD58A1A71),
      _from_words(0x40842B19, 0x21EC2868), _from_words(0x407AD021, 0x57700314), _from_words(0x405B28A3, 0xEE48AE2C),
      _from_words(0x401A47EF, 0x8E484A93), _from_words(0xBFAEEFF2, 0xEE749A62))
# [1/0.35, 28): the same form with other coefficients
RB = (_from_words(0xBF843412, 0x39E86F4A), _from_words(0xBFE993BA, 0x70C285DE), _from_words(0xC031C209, 0x555F995A),
      _from_words(0xC064145D, 0x43C5ED98), _from_words(0xC083EC88, 0x1375F228), _from_words(0xC0900461, 0x6A2E5992),
      _from_words(0xC07E384E, 0x9BDC383F))
SB = (_from_words(0x403E568B, 0x261D5190), _from_words(0x40745CAE, 0x221B9F0A), _from_words(0x409802EB, 0x189D5118),
      _from_words(0x40A8FFB7, 0x688C246A), _from_words(0x40A3F219, 0xCEDF3BE6), _from_words(0x407DA874, 0xE79FE763),
      _from_words(0xC03670E2, 0x42712D62))


def _padded(coefficients, n):
    return tuple(coefficients) + (0.0,) * (n - len(coefficients))


# The four intervals' numerators (8 coefficients, ascending powers) and denominators (1 + 8 coefficients).
N_A, N_B, N_C, N_D = (_padded(c, 8) for c in (PP, PA, RA, RB))
D_A, D_B, D_C, D_D = (_padded(c, 8) for c in (QQ, QA, SA, SB))
(NA0, NA1, NA2, NA3, NA4, NA5, NA6, NA7), (NB0, NB1, NB2, NB3, NB4, NB5, NB6, NB7) = N_A, N_B
(NC0, NC1, NC2, NC3, NC4, NC5, NC6, NC7), (ND0, ND1, ND2, ND3, ND4, ND5, ND6, ND7) = N_C, N_D
(DA1, DA2, DA3, DA4, DA5, DA6, DA7, DA8), (DB1, DB2, DB3, DB4, DB5, DB6, DB7, DB8) = D_A, D_B
(DC1, DC2, DC3, DC4, DC5, DC6, DC7, DC8), (DD1, DD2, DD3, DD4, DD5, DD6, DD7, DD8) = D_C, D_D
ERF_A, ERF_B, ERF_C = 0.84375, 1.25, 1.0 / 0.35
ERF_CLAMP = 40.0  # erfc(40) underflows far below the subnormals; beyond, the tail formula is clamped
LOW32_MASK = -(1 << 32)  # clears the low 32 bits of a double's bit pattern
TWO_OVER_SQRTPI = 1.1283791670955126


@njit(**OPTIONS)
def _pick(a, b, c, d, in_a, in_b, in_c):
    return a if in_a else (b if in_b else (c if in_c else d))


@njit(**OPTIONS)
def _erf_erfc(x, x_lo):
    """(erf(x), erfc(x)) for x + x_lo (x_lo a rounding error of x, used in the erfc tail only). NaN not
    handled. All four fdlibm intervals in one rational function with per-lane coefficients."""
    y = min(abs(x), ERF_CLAMP)
    a = y < ERF_A
    b = y < ERF_B
    c = y < ERF_C
    inv = 1.0 / y
    w = y * y if a else (y - 1.0 if b else inv * inv)
    num = _pick(NA7, NB7, NC7, ND7, a, b, c)
    num = num * w + _pick(NA6, NB6, NC6, ND6, a, b, c)
    num = num * w + _pick(NA5, NB5, NC5, ND5, a, b, c)
    num = num * w + _pick(NA4, NB4, NC4, ND4, a, b, c)
    num = num * w + _pick(NA3, NB3, NC3, ND3, a, b, c)
    num = num * w + _pick(NA2, NB2, NC2, ND2, a, b, c)
    num = num * w + _pick(NA1, NB1, NC1, ND1, a, b, c)
    num = num * w + _pick(NA0, NB0, NC0, ND0, a, b, c)
    den = _pick(DA8, DB8, DC8, DD8, a, b, c)
    den = den * w + _pick(DA7, DB7, DC7, DD7, a, b, c)
    den = den * w + _pick(DA6, DB6, DC6, DD6, a, b, c)
    den = den * w + _pick(DA5, DB5, DC5, DD5, a, b, c)
    den = den * w + _pick(DA4, DB4, DC4, DD4, a, b, c)
    den = den * w + _pick(DA3, DB3, DC3, DD3, a, b, c)
    den = den * w + _pick(DA2, DB2, DC2, DD2, a, b, c)
    den = den * w + _pick(DA1, DB1, DC1, DD1, a, b, c)
    den = den * w + 1.0
    q = num / den
    negative = x < 0.0
    # [0, 0.84375): erf = x + x·q
    xq = x * q
    erf_a = x + xq
    erfc_a = 1.0 - erf_a if x < 0.25 else 0.5 - ((x - 0.5) + xq)
    # [0.84375, 1.25): erf = ±(erx + q)
    erf_b = ERX + q
    erfc_b = 1.0 + erf_b if negative else (1.0 - ERX) - q
    # [1.25, ∞): erfc(y) = exp(-z² - 0.5625) · exp((z - y)(z + y) + q) / y with z = y to 21 bits (z² exact);
    # the rounding error y_lo of y enters the exponent as -2·y·y_lo. Below 1.25 the same exp gives e^{-y²}
    # for the first-order correction of erf and erfc by x_lo (slope 2/√π·e^{-x²}).
    z = as_float(as_int(y) & LOW32_MASK)
    y_lo = -x_lo if negative else x_lo
    zz = (z - y) * (z + y)
    e = _exp_parts(-z * z - (0.0 if b else 0.5625), zz if b else (zz + q) - 2.0 * y * y_lo)
    tail = e * inv
    correction = TWO_OVER_SQRTPI * e * x_lo
    erf_b = -erf_b if negative else erf_b
    erf_c = 1.0 - tail
    erf_c = -erf_c if negative else erf_c
    erfc_c = 2.0 - tail if negative else tail
    erf = (erf_a if a else erf_b) + correction if b else erf_c
    erfc = (erfc_a if a else erfc_b) - correction if b else erfc_c
    return erf, erfc


@njit(**OPTIONS)
def erf(x):
    """Error function."""
    y = _erf_erfc(x, 0.0)[0]
    return y if x == x and x != 0.0 else x


@njit(**OPTIONS)
def erfc(x):
    """Complementary error function 1 - erf(x), with relative accuracy in the right tail."""
    y = _erf_erfc(x, 0.0)[1]
    return y if x == x else x


INV_SQRT2PI = 0.3989422804014327
INV_SQRT2PI_LO = -2.49232720227773e-17  # 1/√(2π) - INV_SQRT2PI
# φ(t)/2^k = e^r/√(2π) = INV_SQRT2PI + r·F(r): F = e^r - 1 over r, times 1/√(2π) (the expm1 polynomial's
# coefficients scaled), so that 1/√(2π) costs neither a multiplication nor a rounding of its own.
F0, F1, F2, F3, F4, F5, F6, F7, F8, F9, F10 = (
    INV_SQRT2PI * c for c in (1.0, 0.5, E1, E2, E3, E4, E5, E6, E7, E8, E9)
)
# The Mills ratio Φ(-t)/φ(t) = P(t)/(t·P(t) + D(t)) for 0 ≤ t ≤ 38.6, P of degree 10 and D of degree 9 with
# positive coefficients (Horner in t ≥ 0 adds no cancellation), D(0) = 1. Fitted for sadbench (linearised
# relative error, Loeb's reweighting by the previous denominator and Lawson's minimax weights, 142 nodes
# Chebyshev-spaced in (t - 4)/(t + 4), mpmath at 300 bits): relative error 4e-18 with the exact coefficients,
# and at t = 0 the rounding of P(0) = √(π/2). The form needs one division only, and at large t the rounding
# errors of P cancel between numerator and denominator while those of D are damped by 1/t².
MP0, MP1, MP2, MP3, MP4, MP5, MP6, MP7, MP8, MP9, MP10 = (
    1.2533141373155003, 2.122888734256121, 1.7785074486252896, 0.9540882049279801, 0.35985082058984236,
    0.09930932087729008, 0.020291178811046962, 0.0030363195638841997, 0.0003198881139410687,
    2.1600991018248177e-05, 7.202535463827848e-07,
)
MD1, MD2, MD3, MD4, MD5, MD6, MD7, MD8, MD9 = (
    1.238390568852662, 0.7842476154062785, 0.3224131764592659, 0.09345273611629752, 0.019658603385900735,
    0.0029931176310845735, 0.0003184476058953711, 2.1600991029377502e-05, 7.202535463241027e-07,
)
NDTR_CLAMP = 38.6  # φ(38.6) rounds to 0 (and Φ(-38.6) too), while -38.6²/2 > -746 keeps 2^(k+54) normal


@njit(**OPTIONS)
def _normal_pdf(t):
    """φ(t) for 0 ≤ t ≤ 38.6; t² is carried exactly (FMA) into the exponential, -t/2 is exact."""
    a = -0.5 * t
    h = a * t
    kd, r = _reduce_one(h)
    r = r + fma(a, t, -h)  # the rounding error of t², added after k is chosen from h alone
    q = F10
    q = q * r + F9
    q = q * r + F8
    q = q * r + F7
    q = q * r + F6
    q = q * r + F5
    q = q * r + F4
    q = q * r + F3
    q = q * r + F2
    q = q * r + F1
    q = q * r + F0
    y = INV_SQRT2PI + fma(r, q, INV_SQRT2PI_LO)
    return (y * _pow2_prescaled(kd)) * PRESCALE


@njit(**OPTIONS)
def normal_pdf(x):
    """φ(x) = e^{-x²/2}/√(2π), the standard normal density."""
    y = _normal_pdf(min(abs(x), NDTR_CLAMP))
    return y if x == x else x


@njit(**OPTIONS)
def ndtr_pdf_no_nan(x):
    """(Φ(x), φ(x)) from one exponential and one division: Φ(-t) = φ(t)·P(t)/(t·P(t) + D(t)) for t = |x|
    (no intervals, no selects of coefficients); Φ(t) = 1 - Φ(-t). A few ulp for both, over the whole range
    (tests/test_vmath.py). NaN is not handled (some pair comes out): for callers that multiply by x anyway
    (GELU's x·Φ(x), Φ(x) + x·φ(x)), where the select of :func:`ndtr_pdf` would cost a few percent."""
    t = min(abs(x), NDTR_CLAMP)
    phi = _normal_pdf(t)
    p = MP10
    p = p * t + MP9
    p = p * t + MP8
    p = p * t + MP7
    p = p * t + MP6
    p = p * t + MP5
    p = p * t + MP4
    p = p * t + MP3
    p = p * t + MP2
    p = p * t + MP1
    p = p * t + MP0
    d = MD9
    d = d * t + MD8
    d = d * t + MD7
    d = d * t + MD6
    d = d * t + MD5
    d = d * t + MD4
    d = d * t + MD3
    d = d * t + MD2
    d = d * t + MD1
    d = d * t + 1.0
    tail = phi * p / (t * p + d)
    cdf = 1.0 - tail if x > 0.0 else tail
    return cdf, phi


@njit(**OPTIONS)
def ndtr_pdf(x):
    """(Φ(x), φ(x)), see :func:`ndtr_pdf_no_nan`; NaN gives (NaN, NaN)."""
    cdf, phi = ndtr_pdf_no_nan(x)
    return (cdf, phi) if x == x else (x, x)


@njit(**OPTIONS)
def ndtr(x):
    """Φ(x), the standard normal distribution function, = erfc(-x/√2)/2, to a few ulp in both tails."""
    return ndtr_pdf(x)[0]

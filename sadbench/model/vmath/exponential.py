"""exp and expm1: Cody–Waite reduction, a fitted expm1 polynomial, 2^k from exponent bits (see
:mod:`sadbench.model.vmath`)."""

from numba import njit

from sadbench.model.vmath.bits import OPTIONS, as_float, as_int, fma, from_words

LOG2E = 1.4426950408889634
LN2_HI = from_words(0x3FE62E42, 0xFEE00000)  # 32 significant bits: k·LN2_HI is exact for |k| < 2^20
LN2_LO = from_words(0x3DEA39EF, 0x35793C76)
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
PRESCALE = 2.0**-54  # 2^(k+54) is a normal number for every k ≥ -1076 (see pow2_prescaled)
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
def reduce_one(h):
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
def expm1_poly(r):
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
def pow2_prescaled(kd):
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
    return fma(expm1_poly(r), s1, s1) * _pow2(k - k1)


@njit(**OPTIONS)
def exp_parts(hi, lo):
    """exp(hi + lo) for a two-part argument (|lo| ≲ 1), NaN not handled."""
    kd, r = _reduce_clamped(_clamp(hi), lo)
    return _exp_reduced(kd, r)


@njit(**OPTIONS)
def exp(x):
    """e^x."""
    kd, r = reduce_one(_clamp(x))
    y = _exp_reduced(kd, r)
    return y if x == x else x


@njit(**OPTIONS)
def exp_expm1(x):
    """(e^x, e^x - 1) from one reduction, each to a few ulp."""
    kd, r = reduce_one(_clamp(x))
    k = _k(kd)
    em = expm1_poly(r)
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
    kd, r = reduce_one(x if x > EXP_LOW else EXP_LOW)
    em = expm1_poly(r)
    s = pow2_prescaled(kd)
    e = fma(em, s, s) * PRESCALE
    p = s * PRESCALE  # 2^k: exact, or 0 where e^x - 1 is -1 anyway
    m = fma(p, em, p - 1.0)
    m = m if x != 0.0 else x
    return (e, m) if x == x else (x, x)



"""The standard normal density φ and distribution Φ: φ with t² exact, Φ(-t) = φ(t)·(Mills ratio), one
rational function and one division for the whole range (see :mod:`sadbench.model.vmath`)."""

from numba import njit

from sadbench.model.vmath.bits import OPTIONS, fma
from sadbench.model.vmath.exponential import E1, E2, E3, E4, E5, E6, E7, E8, E9, PRESCALE, pow2_prescaled, reduce_one


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
    kd, r = reduce_one(h)
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
    return (y * pow2_prescaled(kd)) * PRESCALE


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

"""erf and erfc: fdlibm s_erf.c, its four intervals evaluated as one rational function whose coefficients
are selected per lane (see :mod:`sadbench.model.vmath`)."""

from numba import njit

from sadbench.model.vmath.bits import OPTIONS, as_float, as_int, from_words
from sadbench.model.vmath.exponential import exp_parts

ERX = from_words(0x3FEB0AC1, 0x60000000)  # erf(1) rounded to 24 bits
# [0, 0.84375): erf(x) = x + x·P(x²)/Q(x²)
PP = (from_words(0x3FC06EBA, 0x8214DB68), from_words(0xBFD4CD7D, 0x691CB913), from_words(0xBF9D2A51, 0xDBD7194F),
      from_words(0xBF77A291, 0x236668E4), from_words(0xBEF8EAD6, 0x120016AC))
QQ = (from_words(0x3FD97779, 0xCDDADC09), from_words(0x3FB0A54C, 0x5536CEBA), from_words(0x3F74D022, 0xC4D36B0F),
      from_words(0x3F215DC9, 0x221C1A10), from_words(0xBED09C43, 0x42A26120))
# [0.84375, 1.25): erf(x) = erx + P(x-1)/Q(x-1)
PA = (from_words(0xBF6359B8, 0xBEF77538), from_words(0x3FDA8D00, 0xAD92B34D), from_words(0xBFD7D240, 0xFBB8C3F1),
      from_words(0x3FD45FCA, 0x805120E4), from_words(0xBFBC6398, 0x3D3E28EC), from_words(0x3FA22A36, 0x599795EB),
      from_words(0xBF61BF38, 0x0A96073F))
QA = (from_words(0x3FBB3E66, 0x18EEE323), from_words(0x3FE14AF0, 0x92EB6F33), from_words(0x3FB2635C, 0xD99FE9A7),
      from_words(0x3FC02660, 0xE763351F), from_words(0x3F8BEDC2, 0x6B51DD1C), from_words(0x3F888B54, 0x5735151D))
# [1.25, 1/0.35): erfc(x) = exp(-x² - 0.5625 + R(1/x²)/S(1/x²)) / x
RA = (from_words(0xBF843412, 0x600D6435), from_words(0xBFE63416, 0xE4BA7360), from_words(0xC0251E04, 0x41B0E726),
      from_words(0xC04F300A, 0xE4CBA38D), from_words(0xC0644CB1, 0x84282266), from_words(0xC067135C, 0xEBCCABB2),
      from_words(0xC0545265, 0x57E4D2F2), from_words(0xC023A0EF, 0xC69AC25C))
SA = (from_words(0x4033A6B9, 0xBD707687), from_words(0x4061350C, 0x526AE721), from_words(0x407B290D, 0xD58A1A71),
      from_words(0x40842B19, 0x21EC2868), from_words(0x407AD021, 0x57700314), from_words(0x405B28A3, 0xEE48AE2C),
      from_words(0x401A47EF, 0x8E484A93), from_words(0xBFAEEFF2, 0xEE749A62))
# [1/0.35, 28): the same form with other coefficients
RB = (from_words(0xBF843412, 0x39E86F4A), from_words(0xBFE993BA, 0x70C285DE), from_words(0xC031C209, 0x555F995A),
      from_words(0xC064145D, 0x43C5ED98), from_words(0xC083EC88, 0x1375F228), from_words(0xC0900461, 0x6A2E5992),
      from_words(0xC07E384E, 0x9BDC383F))
SB = (from_words(0x403E568B, 0x261D5190), from_words(0x40745CAE, 0x221B9F0A), from_words(0x409802EB, 0x189D5118),
      from_words(0x40A8FFB7, 0x688C246A), from_words(0x40A3F219, 0xCEDF3BE6), from_words(0x407DA874, 0xE79FE763),
      from_words(0xC03670E2, 0x42712D62))


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
    e = exp_parts(-z * z - (0.0 if b else 0.5625), zz if b else (zz + q) - 2.0 * y * y_lo)
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


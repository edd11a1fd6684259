"""The data a network is trained on, checked where they enter (``integrate``, ``Network`` methods, a suite's
targets): real numbers in (n, d) and (n, k) arrays, at least one point, every value finite, and ±1 labels
for a classification loss. Each error names the array and the index [row, column] of the first bad value."""

import numpy as np

from sadbench.errors import SadbenchError


class DataError(SadbenchError):
    """Data that cannot be trained on; ``row`` and ``column`` locate the first bad value (0-based), if any."""

    def __init__(self, message, row=None, column=None):
        self.row, self.column = row, column
        super().__init__(message)


def real_array(name, values):
    """``values`` as a contiguous, writeable float64 array, refusing what is not real numbers."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise DataError(f"{name} must be an array of numbers: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return np.require(array, np.float64, ["C", "W"])


def real_matrix(name, values, one_column=False):
    """:func:`real_array`, a 1-D one as a column if ``one_column``."""
    array = real_array(name, values)
    return array[:, None].copy() if one_column and array.ndim == 1 else array


def first_bad(array, ok):
    """(row, column) of the first entry of a 2-D ``array`` where ``ok`` is False, or None."""
    bad = np.argwhere(~ok)
    return None if bad.size == 0 else tuple(int(i) for i in bad[0])


def check_values(name, array, labels="real", loss=None):
    """Refuse a non-finite entry, or with ``labels == "sign"`` one that is not -1 or +1."""
    where = first_bad(array, np.isfinite(array))
    if where is not None:
        raise DataError(f"{name}[{where[0]}, {where[1]}] is {array[where]}: data must be finite", *where)
    if labels == "sign":
        where = first_bad(array, np.abs(array) == 1.0)
        if where is not None:
            raise DataError(f"{name}[{where[0]}, {where[1]}] is {array[where]:g}: loss {loss!r} needs labels -1 "
                            "or +1", *where)


def check_data(X, Y, input_dim, output_dim):
    """(X, Y) as float64 (n, d) and (n, k) arrays with n ≥ 1 and finite values (the kernels take writeable
    arrays)."""
    X, Y = real_matrix("X", X), real_matrix("Y", Y, one_column=True)
    if X.ndim != 2 or X.shape[1] != input_dim:
        raise DataError(f"X must have shape (n, {input_dim}), got {X.shape}")
    if Y.shape != (X.shape[0], output_dim):
        raise DataError(f"Y must have shape ({X.shape[0]}, {output_dim}), got {Y.shape}")
    if X.shape[0] == 0:
        raise DataError("X and Y hold 0 points; the loss averages over at least one")
    check_values("X", X)
    check_values("Y", Y)
    return X, Y

"""Built-in data sets (targets): the SAD paper's polynomials (docs/science.md §3), teacher networks, separable
classification data, and explicit data from files or inline lists."""

import ast
import re
import warnings
from pathlib import Path

import numpy as np

from sadbench import Network, SadbenchError, Target, hookimpl

PRESETS = {
    "sad1d": "x1^10 - 2*x1^8 + 2*x1^5 + 3*x1^3 - 2*x1^2 + 5",
    "sad2d": "x2^5 - x1^3*x2^2 - 4*x1^2*x2 + 3*x1^3 - x2^2 + x1 + 2",
    "sad4d": "x1^6*x4^5 + x2^6 - x1^3*x2^2*x3 + x4^2 - 4*x3^4*x2^4 + 3*x4^3*x2^3 - x3^2*x1 + x3 + 3",
}
_VARIABLE = re.compile(r"x([1-9][0-9]*)?")
_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Pow: np.power}
_UNARY = {ast.UAdd: np.positive, ast.USub: np.negative}
_MAX_SEPARABLE_ROUNDS = 1000


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SadbenchError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _box(box):
    try:
        lo, hi = (float(v) for v in box)
    except (TypeError, ValueError):
        raise SadbenchError(f"box must be a pair (lo, hi) of numbers, got {box!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise SadbenchError(f"box must satisfy lo < hi (finite), got {box!r}")
    return lo, hi


def _inputs(rng, n, d, sampling, box):
    """n inputs in [lo, hi]^d, uniform or on a tensor grid (shared by polynomial and teacher)."""
    n, d = _positive_int(n, "n"), _positive_int(d, "d")
    lo, hi = _box(box)
    if sampling == "uniform":
        return rng.uniform(lo, hi, size=(n, d))
    if sampling != "grid":
        raise SadbenchError(f"sampling must be 'uniform' or 'grid', got {sampling!r}")
    m = round(n ** (1.0 / d))
    if m**d != n:
        raise SadbenchError(f"sampling='grid' needs n = m^d (m points per axis); n={n} is not, for d={d}")
    axes = np.meshgrid(*[np.linspace(lo, hi, m)] * d, indexing="ij")
    return np.stack([a.ravel() for a in axes], axis=1)


def _compile(node, expr):
    """A whitelisted ast node as ``(f, names)``: f(X) evaluates it, names are the variables it reads.

    Only numbers, x/x1..xd, unary ±, binary + - * and ** with a non-negative integer literal exponent pass;
    anything else (calls, attributes, subscripts, names like ``__import__``) is rejected, so nothing is
    ever executed beyond numpy arithmetic on X.
    """
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = float(node.value)
        return (lambda X: value), set()
    if isinstance(node, ast.Name) and _VARIABLE.fullmatch(node.id):
        column = int(node.id[1:] or 1) - 1
        return (lambda X: X[:, column]), {node.id}
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        op, (f, names) = _UNARY[type(node.op)], _compile(node.operand, expr)
        return (lambda X: op(f(X))), names
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        exponent = node.right
        if isinstance(node.op, ast.Pow) and not (
            isinstance(exponent, ast.Constant) and type(exponent.value) is int and exponent.value >= 0
        ):
            raise SadbenchError(f"expr {expr!r}: exponents must be non-negative integer literals")
        op = _BINARY[type(node.op)]
        (f, left), (g, right) = _compile(node.left, expr), _compile(node.right, expr)
        return (lambda X: op(f(X), g(X))), left | right
    what = f"name {node.id!r}" if isinstance(node, ast.Name) else type(getattr(node, "op", node)).__name__
    raise SadbenchError(
        f"expr {expr!r}: {what} is not allowed; use x1..xd (or x when d == 1), numbers, + - * ^ ** and parentheses"
    )


def _parse(expr):
    """``(f, d_min, plain_x)`` for a polynomial string; '^' means power."""
    if not isinstance(expr, str):
        raise SadbenchError(f"expr must be a string, got {expr!r}")
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise SadbenchError(f"expr {expr!r} is not a valid expression: {exc}") from None
    f, names = _compile(tree.body, expr)
    return f, max((int(name[1:] or 1) for name in names), default=1), "x" in names


def polynomial(rng, expr=None, preset=None, d=None, n=64, sampling="uniform", box=(-1.0, 1.0)):
    """A polynomial target, from a safe-parsed string ``expr`` in x1..xd or a SAD-paper ``preset``."""
    if (expr is None) == (preset is None):
        raise SadbenchError("polynomial needs exactly one of expr or preset")
    if preset is not None:
        if preset not in PRESETS:
            raise SadbenchError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
        expr = PRESETS[preset]
    f, d_min, plain_x = _parse(expr)
    d = d_min if d is None else _positive_int(d, "d")
    if d < d_min or (preset is not None and d != d_min):
        raise SadbenchError(f"d={d} does not fit {preset or expr!r}, which uses x1..x{d_min}")
    if plain_x and d != 1:
        raise SadbenchError(f"expr {expr!r}: plain x is only allowed when d == 1, got d={d}")
    X = _inputs(rng, n, d, sampling, box)
    return X, np.broadcast_to(f(X), (len(X),)).reshape(-1, 1)


def teacher(rng, widths=(1, 8, 1), activation="tanh", n=64, sampling="uniform", box=(-1.0, 1.0),
            scheme="normal", bias=True):
    """Labels from a random network, so a student of the same architecture can reach zero loss."""
    net = Network(widths, activation=activation, bias=bias)
    X = _inputs(rng, n, net.input_dim, sampling, box)
    theta = net.init(seed=int(rng.integers(2**32)), scheme=scheme)
    return X, net.forward(theta, X)


def separable(rng, d=2, n=32, margin=0.1, box=(-1.0, 1.0)):
    """±1 labels of a random hyperplane w*·x + b* = 0 (unit w*), with every point at distance ≥ margin.

    The hyperplane passes within half the box's half-width of its centre (|b*| ≤ 0.5 on [-1, 1]^d), so both
    classes are usually present.
    """
    d, n = _positive_int(d, "d"), _positive_int(n, "n")
    lo, hi = _box(box)
    if not (isinstance(margin, (int, float)) and margin >= 0):
        raise SadbenchError(f"margin must be a non-negative number, got {margin!r}")
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    b = -centre * w.sum() + rng.uniform(-0.5, 0.5) * half
    kept = []
    for _ in range(_MAX_SEPARABLE_ROUNDS):
        X = rng.uniform(lo, hi, size=(n, d))
        kept.append(X[np.abs(X @ w + b) >= margin])
        if sum(map(len, kept)) >= n:
            X = np.concatenate(kept)[:n]
            return X, np.sign(X @ w + b)[:, None]
    raise SadbenchError(f"margin={margin} is too large for box {box!r}: too few points lie that far from the plane")


def _is_numeric_row(line):
    try:
        [float(field) for field in line.split(",")]
    except ValueError:
        return False
    return True


def _data_lines(p, header):
    """The 1-based line numbers of a csv's data rows, as ``np.loadtxt`` reads them (no header, comment or
    blank lines)."""
    with open(p) as handle:
        return [i for i, line in enumerate(handle, 1) if i > header and line.split("#")[0].strip()]


def _check_finite(arrays, where):
    """Refuse the first non-finite value of ``arrays`` (name -> 2-D array), located by ``where(name, row,
    column)``."""
    for name, array in arrays.items():
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            row, column = (int(i) for i in bad[0])
            raise SadbenchError(f"{where(name, row, column)} is {array[row, column]}: data must be finite")


def file(rng, path, outputs=1):
    """Explicit data: a .npz with arrays X and Y, or a .csv whose last ``outputs`` columns are Y."""
    outputs = _positive_int(outputs, "outputs")
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise SadbenchError(f"path {str(path)!r}: data files must end in .npz or .csv")
    if not p.is_file():
        raise SadbenchError(f"path {str(path)!r}: no such file")
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as data:
                if "X" not in data or "Y" not in data:
                    raise SadbenchError(f"path {str(path)!r}: a .npz needs arrays named X and Y, has {list(data)}")
                X, Y = data["X"], data["Y"]
        except (OSError, ValueError) as exc:
            raise SadbenchError(f"path {str(path)!r}: not a readable .npz file: {exc}") from None
        if X.dtype.kind not in "biuf" or Y.dtype.kind not in "biuf":
            raise SadbenchError(f"path {str(path)!r}: X and Y must hold real numbers, got {X.dtype} and {Y.dtype}")
        _check_finite({"X": np.atleast_2d(X.T).T, "Y": np.atleast_2d(Y.T).T},
                      lambda name, row, column: f"{path}: {name}[{row}, {column}]")
        return X, Y
    try:
        with open(p) as handle:
            header = not _is_numeric_row(handle.readline())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": refused below
            table = np.loadtxt(p, delimiter=",", comments="#", skiprows=int(header), ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SadbenchError(f"path {str(path)!r}: not a numeric csv: {exc}") from None
    if table.shape[0] == 0:
        raise SadbenchError(f"path {str(path)!r}: no data rows")
    if outputs >= table.shape[1]:
        raise SadbenchError(f"outputs={outputs} leaves no input columns in {str(path)!r} ({table.shape[1]} columns)")
    lines = _data_lines(p, int(header))
    _check_finite({"the table": table}, lambda name, row, column: f"{path}:{lines[row]}: column {column + 1}")
    return table[:, :-outputs], table[:, -outputs:]


def _column_array(values, name):
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise SadbenchError(f"{name} must be a list of numbers or of equal-length rows of numbers") from None
    return array[:, None] if array.ndim == 1 else array


def points(rng, X, Y):
    """Inline data (e.g. from a YAML suite); a flat list is one column."""
    return _column_array(X, "X"), _column_array(Y, "Y")


def twins(rng, of, delta=0.1):
    """Label-noise twins (docs/science.md §2): the data of the target section ``of`` ({name: ..., its
    parameters}) with every point duplicated, labelled y + ``delta`` and y − ``delta``. For mse the
    trajectory is the original one and L is shifted by delta², the data floor."""
    from sadbench.plugins import get_registry

    if not isinstance(of, dict) or "name" not in of:
        raise SadbenchError(f"of must be a target section with a name, got {of!r}")
    if not (isinstance(delta, (int, float)) and np.isfinite(delta)):
        raise SadbenchError(f"delta must be a finite number, got {delta!r}")
    params = {k: v for k, v in of.items() if k != "name"}
    X, Y = get_registry().get("target", of["name"])(seed=int(rng.integers(2**32)), **params)
    return np.concatenate([X, X]), np.concatenate([Y + delta, Y - delta])


@hookimpl
def sadbench_register_targets(register):
    register(Target("polynomial", polynomial, description="polynomial in x1..xd (expr) or SAD preset sad1d/2d/4d"))
    register(Target("teacher", teacher, description="labels from a random network of given widths"))
    register(Target("separable", separable, description="±1 labels of a random hyperplane, with a margin"))
    register(Target("file", file, description="X, Y from a .npz (arrays X, Y) or .csv (last columns Y)"))
    register(Target("points", points, description="inline X, Y lists"))
    register(Target("twins", twins, description="another target's points twice, labels y ± delta"))

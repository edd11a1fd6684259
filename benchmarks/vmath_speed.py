"""ns per element of sadbench.model.vmath and of the built-in activations' element-wise loops, best of N.

Each function runs in a compiled loop over ``--size`` doubles (uniform in [-6, 6]; the logarithms get
positive arguments), repeated ``--passes`` times inside the compiled code, so no Python call is timed. The
activation rows time the loops the kernels run: ``fdf`` writes σ(x) and σ′(x) (one pass, the shared
exponential evaluated once), ``d2`` writes σ″(x) (the kernels multiply by it; a product repeated over the
passes would sink into the subnormals). Beside each time, what the vectorised loop body holds: its width
(zmm: 8 doubles, ymm: 4), its instructions, the multiplies and FMAs among them (on Zen 4 one 512-bit FMA
issues per cycle, so at 8 doubles per iteration their count / 8 is a floor on the cycles per element) and
its divisions. A libm call left in the loop would show as a scalar loop without a vector body.

    python benchmarks/vmath_speed.py                         # every function and activation
    python benchmarks/vmath_speed.py exp tanh gelu --repeats 40
    python benchmarks/vmath_speed.py gelu --asm             # print the vector loop of each row

Other processes may load the machine: every figure is the best of ``--repeats`` runs (an upper bound), and
the rows of one name are timed interleaved, so that they see the same load.
"""

import argparse
import re
import time

import numpy as np
from numba import njit

import sadbench
from sadbench.model import vmath

FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "logistic", "softplus", "erf", "erfc", "ndtr", "normal_pdf")
ACTIVATIONS = ("gelu", "tanh", "softplus", "silu", "logistic", "mish", "elu")
#: the kernels' element-wise loops are compiled with these options (sadbench.model.elementwise.ELEMENTWISE)
ELEMENTWISE = dict(error_model="numpy")
RANGES = {"log": (1e-3, 10.0), "log1p": (-0.5, 10.0)}
MULTIPLY_ADD = re.compile(r"^v(mul|fn?madd|fn?msub)\w*pd\b")


def function_loop(fn):
    @njit(**ELEMENTWISE)
    def loop(xs, out, passes):
        for _ in range(passes):
            for i in range(xs.size):
                out[i] = fn(xs[i])

    return loop


def fdf_loop(f, df):
    @njit(**ELEMENTWISE)
    def loop(xs, a, g, passes):
        for _ in range(passes):
            for i in range(xs.size):
                x = xs[i]
                a[i] = f(x)
                g[i] = df(x)

    return loop


def vector_body(loop):
    """The instructions of the loop's vectorised body: the basic block of the compiled function (not its
    Python wrapper) with the most ymm/zmm operands, up to its back edge."""
    (asm,) = loop.inspect_asm().values()
    blocks, current = [], []
    for line in asm.split("_ZN7cpython")[0].splitlines():
        if re.match(r"^\.?\w+:", line):
            blocks.append(current)
            current = []
        elif line.startswith("\t") and not line.lstrip().startswith("."):
            current.append(line.strip())
    blocks.append(current)
    body = max(blocks, key=lambda block: sum("zmm" in line or "ymm" in line for line in block))
    ends = [i for i, line in enumerate(body) if line.startswith("j")]
    return body[: ends[0] + 1] if ends else body


def summary(body):
    width = next((w for w in ("zmm", "ymm") if any(w in line for line in body)), "scalar")
    fmas = sum(bool(MULTIPLY_ADD.match(line)) for line in body)
    divs = sum(line.startswith(("vdivpd", "vsqrtpd")) for line in body)
    return f"{width:6s} {len(body):4d} instr, {fmas:3d} mul/FMA, {divs} div"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="vmath functions and/or activations (default: all)")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--passes", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--asm", action="store_true", help="print the vector loop body of each row")
    args = parser.parse_args()
    names = list(dict.fromkeys(args.names or FUNCTIONS + ACTIVATIONS))
    rng = np.random.default_rng(0)
    registry = sadbench.get_registry()
    print(f"{args.size} doubles × {args.passes} passes, best of {args.repeats}; ns per element")
    for name in names:
        xs = rng.uniform(*RANGES.get(name, (-6.0, 6.0)), args.size)
        out, g = np.empty_like(xs), np.empty_like(xs)
        rows = []
        if name in FUNCTIONS:
            loop = function_loop(getattr(vmath, name))
            rows.append((f"vmath.{name}", loop, lambda loop=loop: loop(xs, out, args.passes)))
        if name in ACTIVATIONS:
            spec = registry.get("activation", name)
            fdf, d2 = fdf_loop(spec.f, spec.df), function_loop(spec.d2f)
            rows.append((f"{name} fdf (σ, σ′)", fdf, lambda: fdf(xs, out, g, args.passes)))
            rows.append((f"{name} d2 (σ″)", d2, lambda: d2(xs, out, args.passes)))
        if not rows:
            parser.error(f"{name!r} is neither a vmath function {FUNCTIONS} nor an activation {ACTIVATIONS}")
        for _, _, run in rows:
            run()  # compile
        best = [np.inf] * len(rows)
        for _ in range(args.repeats):
            for i, (_, _, run) in enumerate(rows):
                start = time.perf_counter()
                run()
                best[i] = min(best[i], time.perf_counter() - start)
        for (label, loop, _), seconds in zip(rows, best):
            body = vector_body(loop)
            print(f"{label:22s} {seconds / (args.size * args.passes) * 1e9:7.3f} ns   ({summary(body)})")
            if args.asm:
                print("\n".join(body))


if __name__ == "__main__":
    main()

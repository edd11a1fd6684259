"""Where a first run's compile time goes: the seconds numba spends compiling each function during one
``integrate`` in this process, with an empty numba cache and no helper process.

A numba compile-event listener times every compilation; a function's own (exclusive) seconds leave out the
functions it compiles on the way, its inclusive seconds keep them. The run is the quick start's tanh 1-8-1
network on y = x² at 32 points (P = 25), one member, rtol 1e-8, atol 1e-10.

    python benchmarks/compile_profile.py                     # integrator bdf, to t = 1e4
    python benchmarks/compile_profile.py --integrator dopri5 --top 40
"""

import argparse
import os
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrator", default="bdf")
    parser.add_argument("--t-end", type=float, default=1e4)
    parser.add_argument("--top", type=int, default=25, help="functions listed, most exclusive seconds first")
    args = parser.parse_args()
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="sadbench-compile-profile-")

    import numpy as np
    from numba.core import event

    import sadbench
    from sadbench.solvers import chunked

    chunked.compile_elsewhere = lambda *dispatchers: None  # everything compiles here, where it is timed
    stack, own, total = [], {}, {}

    class Timer(event.Listener):
        def on_start(self, ev):
            fn = ev.data["dispatcher"].py_func
            stack.append([f"{fn.__module__}.{fn.__qualname__}", time.perf_counter(), 0.0])

        def on_end(self, ev):
            name, start, nested = stack.pop()
            seconds = time.perf_counter() - start
            own[name] = own.get(name, 0.0) + seconds - nested
            total[name] = total.get(name, 0.0) + seconds
            if stack:
                stack[-1][2] += seconds

    event.register("numba:compile", Timer())
    net = sadbench.Network([1, 8, 1], "tanh", bias=True)
    X = np.linspace(-1.0, 1.0, 32)[:, None]
    start, cpu = time.perf_counter(), time.process_time()
    sadbench.integrate(net, net.init(seed=0, ensemble=1), X, X**2, integrator=args.integrator, t_end=args.t_end,
                       rtol=1e-8, atol=1e-10)
    print(f"integrate: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU; "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'own s':>7} {'with callees s':>14}  function")
    for name, seconds in sorted(own.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{seconds:7.2f} {total[name]:14.2f}  {name}")
    print(f"{sum(own.values()):7.2f} {'':14}  all compilation")


if __name__ == "__main__":
    main()

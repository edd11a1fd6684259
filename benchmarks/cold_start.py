"""First contact, timed: ``sadbench run`` of a suite in a fresh process with an empty numba cache (cold), then
again with the cache it left (warm).

For each run: seconds until the first line of output (the plan: cases, members, integrators), seconds until
the command finished, and the CPU seconds the process used (user + system; on a loaded machine the wall
time stretches, the CPU time much less). Then the warm start: ``python -c "import sadbench"`` and
``sadbench --help``, best of five. The machine's load average is printed beside every figure.

    python benchmarks/cold_start.py                                   # suites/quickstart.yaml
    python benchmarks/cold_start.py --variant auto --horizon 1e8      # the same cases, integrator auto to 1e8
    python benchmarks/cold_start.py --warm 3                          # three warm runs after the cold one
    python benchmarks/cold_start.py --no-import-time                  # leave out import sadbench and --help

``--variant NAME`` rewrites the suite's default integrator to NAME (its tolerances kept) into a temporary
copy, and ``--horizon`` its default horizon. The command is the ``sadbench`` script beside the Python that
runs this file, so run it with the interpreter of the environment to measure (a fresh ``pip install .``).
"""

import argparse
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def timed(command, env, timeout):
    """(seconds to the first line of output, seconds to exit, CPU seconds, exit code, output) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first, chunks = None, []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        open_streams = 2
        while open_streams:
            if time.perf_counter() - start > timeout:
                process.kill()
                break
            for key, _ in selector.select(timeout=0.05):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                chunks.append(data)
                if first is None and b"\n" in b"".join(chunks):
                    first = time.perf_counter() - start
    code = process.wait()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return first, wall, cpu, code, b"".join(chunks).decode(errors="replace")


def suite_variant(suite, integrator, horizon, folder):
    """``suite`` with another default integrator and/or horizon, written into ``folder``."""
    data = yaml.safe_load(Path(suite).read_text())
    defaults = data.setdefault("defaults", {})
    if integrator:
        defaults["integrator"] = dict(defaults.get("integrator", {}), name=integrator)
    if horizon:
        defaults["horizon"] = float(horizon)
    path = Path(folder) / Path(suite).name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load():
    return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(ROOT / "suites" / "quickstart.yaml"))
    parser.add_argument("--variant", metavar="INTEGRATOR", help="replace the suite's default integrator")
    parser.add_argument("--horizon", type=float, help="replace the suite's default horizon")
    parser.add_argument("--warm", type=int, default=1, help="warm runs after the cold one")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    parser.add_argument("--no-import-time", dest="import_time", action="store_false",
                        help="leave out the times of import sadbench and sadbench --help")
    parser.add_argument("--show-output", action="store_true", help="print the cold run's output")
    args = parser.parse_args()
    script = Path(sys.executable).with_name("sadbench")
    with tempfile.TemporaryDirectory(prefix="sadbench-cold-") as scratch:
        suite = args.suite
        if args.variant or args.horizon:
            suite = suite_variant(args.suite, args.variant, args.horizon, scratch)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(scratch) / "numba-cache"), PYTHONDONTWRITEBYTECODE="1")
        print(f"{script} run {suite}; NUMBA_CACHE_DIR empty at first; {os.cpu_count()} CPUs; {load()}")
        print(f"{'run':8s} {'first line s':>12s} {'wall s':>8s} {'CPU s':>8s}  exit  load average (1, 5, 15 min)")
        for k in range(1 + args.warm):
            results = Path(scratch) / f"results-{k}"
            first, wall, cpu, code, output = timed([str(script), "run", str(suite), "--results", str(results)], env,
                                                   args.timeout)
            name = "cold" if k == 0 else f"warm {k}"
            first_text = "-" if first is None else f"{first:.2f}"
            print(f"{name:8s} {first_text:>12s} {wall:8.2f} {cpu:8.2f}  {code:4d}  {load()}", flush=True)
            if k == 0 and (args.show_output or code != 0):
                print(output)
        if args.import_time:
            for what, command in (("import sadbench", [sys.executable, "-c", "import sadbench"]),
                                  ("sadbench --help", [str(script), "--help"])):
                runs = [timed(command, env, args.timeout) for _ in range(5)]
                print(f"{what}: wall {min(r[1] for r in runs):.2f} s (best of 5), CPU {min(r[2] for r in runs):.2f} s; "
                      f"{load()}")


if __name__ == "__main__":
    main()

"""The notebook of the "Results in notebooks" page (docs/results.md): a results file as pandas DataFrames,
filtered, plotted and traced back to the run that computed it.

Run ``bash docs/examples/results/commands.sh`` first (it writes results/results_demo.sqlite), then
``python docs/examples/results/notebook.py`` from the same folder; in a notebook, paste the cells and
drop the ``print`` calls.
"""

import sys

import matplotlib.pyplot as plt
import pandas as pd

import sadbench

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 12)
pd.set_option("display.max_colwidth", 60)
path = sys.argv[1] if len(sys.argv) > 1 else "results/results_demo.sqlite"

# --8<-- [start:open]
res = sadbench.open_results(path)  # refuses a file sadbench did not write
cases = res.cases()                # one row per case
members = res.members()            # one row per case and seed
print(cases[["label", "integrator.rtol", "horizon", "verdict",
             "n_converged", "n_undecided", "wall_time"]])
# --8<-- [end:open]

# --8<-- [start:filter]
# A parameter column filters with ==; `correct` says whether a verdict is the expected one.
tight = cases[cases["integrator.rtol"] == 1e-10]
print(tight[["label", "verdict", "limit_loss", "loss_final"]])
print(members.groupby("integrator.rtol")["correct"].mean())
print(members.query("verdict == 'undecided' and seed == 0")[["label", "reason"]])
# --8<-- [end:filter]

# --8<-- [start:series]
series = res.series()  # one row per saved time: t, loss, norm, grad_norm, align, R, ...
flows = series[(series["integrator.rtol"] == 1e-10) & (series["horizon"] == 1e3)]
fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for (label, seed), flow in flows.groupby(["label", "seed"]):
    colour = "C3" if label.startswith("SAD") else "C0"
    ax_loss.loglog(flow["t"], flow["loss"], colour, label=f"{label}, seed {seed}")
    ax_norm.semilogx(flow["t"], flow["norm"], colour)
ax_loss.set(xlabel="t", ylabel="L(θ(t))")
ax_norm.set(xlabel="t", ylabel="‖θ(t)‖")
ax_loss.legend(fontsize=7)
fig.savefig("results/results_demo.png", dpi=120)
n_flows = flows.groupby(["case_id", "seed"]).ngroups
print(f"{len(flows)} saved times of {n_flows} flows -> results/results_demo.png")
# --8<-- [end:series]

# --8<-- [start:runs]
runs = res.runs()  # one row per `sadbench run` on this file
print(runs[["run_id", "started_at", "command", "commit", "numba", "repeat"]])
by_run = cases.merge(runs[["run_id", "command"]], on="run_id")  # who computed what
print(by_run[["label", "horizon", "command"]])
env = res.environment()  # the latest run's environment, in full
print(env["sadbench"], env["python"], env["libraries"]["numpy"], env["cpu"]["model"])
# --8<-- [end:runs]

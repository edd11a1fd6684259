#!/usr/bin/env bash
# The commands of the "Results in notebooks" page (docs/results.md), in the page's order. Run from the
# repository root: bash docs/examples/results/commands.sh (about a minute; it writes under results/).
set -euo pipefail

# --8<-- [start:run]
sadbench run docs/examples/results/results_demo.yaml   # -> results/results_demo.sqlite
# --8<-- [end:run]

# --8<-- [start:select]
sadbench list docs/examples/results/results_demo.yaml -k "reachable and rtol=1e-06"
sadbench run docs/examples/results/results_demo.yaml -k "reachable and rtol=1e-06" \
    --set horizon=1e4
# --8<-- [end:select]

# --8<-- [start:compare]
sadbench run docs/examples/results/results_demo.yaml --results results/after --repeat 3
sadbench compare results/results_demo.sqlite results/after/results_demo.sqlite
# --8<-- [end:compare]

# --8<-- [start:export]
sadbench export results/results_demo.sqlite --format parquet --table series \
    --out results/series.parquet
sadbench export results/results_demo.sqlite --format csv --table cases --out results/cases.csv
sadbench export results/results_demo.sqlite --format jsonl --out results/members.jsonl
head -n 1 results/members.jsonl    # one JSON object per case and seed
# --8<-- [end:export]

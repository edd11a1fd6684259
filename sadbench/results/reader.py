"""The :class:`Results` object that ``sadbench.open_results`` returns: a results file read as DataFrames.

Each call reads the file afresh (a run may still be writing it); nothing stays open between calls.
"""

import json

import pandas as pd

from sadbench.results.frames import CASE_COLUMNS, MEMBER_COLUMNS, SERIES_COLUMNS, cases_frame, members_frame, \
    series_frame
from sadbench.suites import store as _store

def _members_by_case(store):
    members = {}
    for member in store.members():
        members.setdefault(member["case_id"], []).append(member)
    return members


def _commit(run):
    git = ((run.get("environment") or {}).get("git") or {})
    return git.get("commit")


class Results:
    """A sadbench results file (``sadbench run``'s SQLite store) read as DataFrames."""

    def __init__(self, path):
        with _store.open_results(path) as store:  # refuses a missing file or one that is not a results file
            self.meta = store.meta()
        self.path = store.path

    def __repr__(self):
        return f"<sadbench results {self.path}>"

    def _read(self, fn):
        with _store.open_results(self.path) as store:
            return fn(store)

    def cases(self):
        """One row per case: :data:`~sadbench.results.frames.CASE_COLUMNS`, params after ``label``."""
        def read(store):
            commits = {run["run_id"]: _commit(run) for run in store.runs()}
            return cases_frame(store.cases(), _members_by_case(store), commits)
        return self._read(read)

    def members(self):
        """One row per case and seed: :data:`~sadbench.results.frames.MEMBER_COLUMNS`, params after ``label``;
        a failed case has one row with no seed, status "error" and verdict "failed"."""
        return self._read(lambda store: members_frame(store.cases(), _members_by_case(store)))

    def series(self, case_id=None, seed=None, params=True):
        """One row per saved time (:data:`~sadbench.results.frames.SERIES_COLUMNS`), by case, seed and t;
        ``case_id`` and ``seed`` select, ``params=False`` leaves out the parameter columns."""
        def read(store):
            where, args = [], []
            if case_id is not None:
                where.append("case_id = ?")
                args.append(case_id)
            if seed is not None:
                where.append("seed = ?")
                args.append(seed)
            query = f"SELECT case_id, seed, {', '.join(_store.SERIES_COLUMNS)} FROM series" + (
                f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY case_id, seed, t"
            rows = pd.read_sql_query(query, store.connection, params=args)
            rows[list(_store.SERIES_COLUMNS)] = rows[list(_store.SERIES_COLUMNS)].astype("float64")
            order = {c["case_id"]: i for i, c in enumerate(store.cases())}
            rows = rows.sort_values(["case_id", "seed", "t"], key=lambda s: s.map(order) if s.name == "case_id"
                                    else s, kind="stable").reset_index(drop=True)
            return series_frame(rows, store.cases(), params)
        return self._read(read)

    def runs(self):
        """One row per recorded run: when, the command, and the environment's main fields."""
        def row(run):
            env = run["environment"] or {}
            libraries, git, cpu = env.get("libraries", {}), env.get("git") or {}, env.get("cpu", {})
            return {"run_id": run["run_id"], "suite": run["suite"], "started_at": run["started_at"],
                    "finished_at": run["finished_at"], "command": run["command"], "sadbench": env.get("sadbench"),
                    "commit": git.get("commit"), "dirty": git.get("dirty"), "python": env.get("python"),
                    **{name: libraries.get(name) for name in ("numpy", "numba", "scipy")},
                    "cpu": cpu.get("model"), "cores": cpu.get("cores"),
                    "gpu": (env.get("gpu") or {}).get("name"), "hostname": env.get("hostname"),
                    "repeat": (run["options"] or {}).get("repeat")}
        return self._read(lambda store: pd.DataFrame([row(run) for run in store.runs()]))

    def environment(self):
        """The latest run's environment (versions, git, CPU, GPU) with its ``run_id``, ``started_at`` and
        ``finished_at``; for a file written before runs were recorded, what its metadata says."""
        def read(store):
            runs = store.runs()
            if not runs:
                return {"sadbench": self.meta.get("sadbench_version"), "recorded": False}
            last = runs[-1]
            return {**json.loads(json.dumps(last["environment"])), "run_id": last["run_id"],
                    "started_at": last["started_at"], "finished_at": last["finished_at"], "recorded": True}
        return self._read(read)

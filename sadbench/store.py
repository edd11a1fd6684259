"""Results of suite runs in one SQLite file per suite: cases, their ensemble members, and saved series.

Each finished case is written in its own transaction (WAL mode), so an interrupted run keeps everything that
finished. Columns holding JSON (``params``, ``widths``, ``verdict_json``) are decoded when read.
"""

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sadbench import __version__
from sadbench.errors import SadbenchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, suite TEXT, label TEXT, params TEXT, activation TEXT, widths TEXT,
    target TEXT, loss TEXT, integrator TEXT, expect TEXT, error TEXT, traceback TEXT, wall_time REAL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS members (
    case_id TEXT, seed INTEGER, status TEXT, t_final REAL, loss_final REAL, norm_final REAL,
    grad_norm_final REAL, n_grad INTEGER, n_steps INTEGER, n_rejected INTEGER, verdict TEXT, verdict_json TEXT,
    PRIMARY KEY (case_id, seed)
);
CREATE TABLE IF NOT EXISTS series (
    case_id TEXT, seed INTEGER, t REAL, loss REAL, norm REAL, grad_norm REAL, align REAL, dir_cos REAL,
    n_grad REAL
);
CREATE INDEX IF NOT EXISTS series_member ON series (case_id, seed, t);
"""
SERIES_COLUMNS = ("t", "loss", "norm", "grad_norm", "align", "dir_cos", "n_grad")
_JSON_COLUMNS = ("params", "widths", "verdict_json")


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _decode(row):
    return {key: json.loads(row[key]) if key in _JSON_COLUMNS and row[key] is not None else row[key]
            for key in row.keys()}


class Store:
    """One suite's results file; created with its schema and ``meta`` (version, created_at) on first use."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(self.path)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode=WAL")
        with self.connection:
            self.connection.executescript(SCHEMA)
            self.connection.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [("sadbench_version", __version__), ("created_at", _now())],
            )

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def finished_ids(self):
        """Case ids stored without an error."""
        rows = self.connection.execute("SELECT case_id FROM cases WHERE error IS NULL")
        return {row["case_id"] for row in rows}

    def save(self, suite_name, result):
        """Store one finished case (replacing any earlier result for it) in a single transaction."""
        case, params = result.case, result.case.params
        with self.connection:
            for table in ("cases", "members", "series"):
                self.connection.execute(f"DELETE FROM {table} WHERE case_id = ?", (case.case_id,))
            self.connection.execute(
                "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (case.case_id, suite_name, case.label, _json(params), params["network"]["activation"],
                 json.dumps(params["network"]["widths"]), params["target"]["name"], params["loss"],
                 params["integrator"]["name"], params["expect"], result.error, result.traceback,
                 result.wall_time, _now()),
            )
            if result.solution is not None:
                self._save_members(case, result.solution)

    def _save_members(self, case, sol):
        for e, seed in enumerate(case.seeds):
            verdict = sol.verdict[e]
            self.connection.execute(
                "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (case.case_id, seed, str(sol.status[e]), float(sol.t_final[e]), float(sol.loss_final[e]),
                 float(sol.norm_final[e]), float(sol.grad_norm_final[e]), int(sol.n_grad[e]), int(sol.n_steps[e]),
                 int(sol.n_rejected[e]), verdict.label, _json(_verdict_dict(verdict))),
            )
            trace = sol.member_trace(e)
            rows = zip(*(np.asarray(getattr(trace, name), dtype=float).tolist() for name in SERIES_COLUMNS))
            self.connection.executemany(
                "INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(case.case_id, seed, *row) for row in rows],
            )

    def meta(self):
        return {row["key"]: row["value"] for row in self.connection.execute("SELECT key, value FROM meta")}

    def cases(self, case_ids=None):
        """Case rows as dicts, in the order of ``case_ids`` when given."""
        rows = {row["case_id"]: _decode(row) for row in self.connection.execute("SELECT * FROM cases")}
        if case_ids is None:
            return list(rows.values())
        return [rows[i] for i in case_ids if i in rows]

    def members(self, case_id=None):
        """Member rows as dicts (one per case and seed), by case and seed."""
        query, args = "SELECT * FROM members", ()
        if case_id is not None:
            query, args = query + " WHERE case_id = ?", (case_id,)
        return [_decode(row) for row in self.connection.execute(query + " ORDER BY case_id, seed", args)]

    def series(self, case_id, seed):
        """One member's saved series as float arrays keyed by column (NaN where a value was not finite)."""
        rows = self.connection.execute(
            f"SELECT {', '.join(SERIES_COLUMNS)} FROM series WHERE case_id = ? AND seed = ? ORDER BY t",
            (case_id, seed),
        ).fetchall()
        table = np.array([tuple(row) for row in rows], dtype=float).reshape(len(rows), len(SERIES_COLUMNS))
        return {name: table[:, q] for q, name in enumerate(SERIES_COLUMNS)}


def _json(value):
    """JSON that also takes the numpy scalars and arrays a plugin's detector may put in its evidence."""
    return json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def _verdict_dict(verdict):
    return {"detector": verdict.detector, "time": verdict.time, "limit_loss": verdict.limit_loss,
            "evidence": verdict.evidence, "reason": verdict.reason}


def open_results(path):
    """Open an existing results file for reading."""
    if not Path(path).is_file():
        raise SadbenchError(f"no results file at {path}")
    return Store(path)

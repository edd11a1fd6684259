"""Results of suite runs in one SQLite file per suite: cases, their ensemble members, and saved series.

The file must survive a killed run and several writers. It is in WAL mode, and each finished case is
written in one ``BEGIN IMMEDIATE`` transaction (its row, its members, its series), so a case is either
stored whole or not at all, and a SIGKILL loses only the cases still running. Writers wait for each other
(a busy timeout) instead of failing. A case is keyed by ``case_id``, the content hash of its settings and
provenance (:mod:`sadbench.suites.provenance`); failed cases are stored too, with their error and traceback.
Columns holding JSON (``params``, ``provenance``, ``widths``, ``verdict_json``, ``integrator_stats``,
``wall_times``, ``environment``, ``options``) are decoded when read.

``runs`` records every ``run_suite`` call: when it started and ended, its options and its environment
(:mod:`sadbench.suites.environment`: versions, git commit, CPU, GPU); each case row names the run that
computed it (``run_id``). A case's ``wall_time`` is the median of its timed runs (``wall_times``; one
unless ``--repeat``), with ``wall_time_min`` beside it and the compile seconds of its first call in
``compile_time`` (:mod:`sadbench.suites.timing`).

``states`` keeps each case's resume state (:class:`sadbench.solvers.chunked.RunState`, compressed ``np.savez``
bytes) under its ``lineage``: the hash of everything but the horizon and the budgets, so that a case with a
longer horizon (or a larger budget) continues from the stored one instead of starting over.
"""

import io
import json
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sadbench import __version__
from sadbench.errors import SadbenchError

SCHEMA_VERSION = "4"
BUSY_TIMEOUT_S = 600.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, suite TEXT, label TEXT, params TEXT, provenance TEXT, activation TEXT,
    widths TEXT, target TEXT, loss TEXT, integrator TEXT, expect TEXT, n_seeds INTEGER, error TEXT,
    traceback TEXT, wall_time REAL, worker TEXT, finished_at TEXT, run_id TEXT, wall_times TEXT,
    wall_time_min REAL, wall_time_median REAL, compile_time REAL, repeat INTEGER
);
CREATE TABLE IF NOT EXISTS members (
    case_id TEXT, seed INTEGER, status TEXT, t_final REAL, loss_final REAL, norm_final REAL,
    grad_norm_final REAL, n_grad INTEGER, n_steps INTEGER, n_rejected INTEGER, verdict TEXT, verdict_json TEXT,
    integrator_stats TEXT, PRIMARY KEY (case_id, seed)
);
CREATE TABLE IF NOT EXISTS series (
    case_id TEXT, seed INTEGER, t REAL, loss REAL, norm REAL, grad_norm REAL, align REAL, dir_cos REAL,
    n_grad REAL
);
CREATE INDEX IF NOT EXISTS series_member ON series (case_id, seed, t);
CREATE TABLE IF NOT EXISTS states (
    case_id TEXT PRIMARY KEY, lineage TEXT, horizon REAL, continued_from TEXT, state BLOB
);
CREATE INDEX IF NOT EXISTS states_lineage ON states (lineage, horizon);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, suite TEXT, started_at TEXT, finished_at TEXT, command TEXT, options TEXT,
    environment TEXT
);
"""
CASE_COLUMNS = ("case_id", "suite", "label", "params", "provenance", "activation", "widths", "target", "loss",
                "integrator", "expect", "n_seeds", "error", "traceback", "wall_time", "worker", "finished_at",
                "run_id", "wall_times", "wall_time_min", "wall_time_median", "compile_time", "repeat")
#: The columns format 4 added to ``cases``, with their types (the 3 -> 4 migration adds them).
_ADDED_CASE_COLUMNS = (("run_id", "TEXT"), ("wall_times", "TEXT"), ("wall_time_min", "REAL"),
                       ("wall_time_median", "REAL"), ("compile_time", "REAL"), ("repeat", "INTEGER"))
RUN_COLUMNS = ("run_id", "suite", "started_at", "finished_at", "command", "options", "environment")
MEMBER_COLUMNS = ("case_id", "seed", "status", "t_final", "loss_final", "norm_final", "grad_norm_final", "n_grad",
                  "n_steps", "n_rejected", "verdict", "verdict_json", "integrator_stats")
SERIES_COLUMNS = ("t", "loss", "norm", "grad_norm", "align", "dir_cos", "n_grad")
JSON_COLUMNS = ("params", "provenance", "widths", "verdict_json", "integrator_stats", "wall_times", "options",
                "environment")


@dataclass(frozen=True)
class CaseRecord:
    """Everything stored for one case, as plain picklable values (it travels back from worker processes).

    ``members`` are dicts with the MEMBER_COLUMNS after ``case_id``; ``series`` maps a seed to a dict of
    equal-length lists, one per SERIES_COLUMNS entry. A failed case has ``error`` and no members. ``state``
    is the run's resume state (a dict of arrays) under ``lineage``; ``continued_from`` the case it
    continued, if any. ``timing`` is :meth:`sadbench.suites.timing.Timing.as_dict` (None: ``wall_time``
    is the only sample); ``run_id`` the run that computed the case.
    """

    case_id: str
    suite: str
    label: str
    params: dict
    provenance: dict
    wall_time: float
    worker: str
    error: str | None = None
    traceback: str | None = None
    members: list = field(default_factory=list)
    series: dict = field(default_factory=dict)
    lineage: str | None = None
    state: dict | None = None
    continued_from: str | None = None
    timing: dict | None = None
    run_id: str | None = None


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _json(value):
    """JSON that also takes the numpy scalars and arrays a plugin's detector may put in its evidence."""
    return json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def _decode(row):
    return {key: json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
            for key in row.keys()}


class Store:
    """One suite's results file, created with its schema and ``meta`` on first use."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.connection.row_factory = sqlite3.Row
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable against a killed process
            with self.transaction():
                self._initialise()
        except sqlite3.DatabaseError as exc:
            raise SadbenchError(f"{self.path}: not a sadbench results file ({exc})") from None

    def _initialise(self):
        tables = {row[0] for row in self.connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise SadbenchError(f"{self.path}: an SQLite file, but not a sadbench results file")
        for statement in SCHEMA.split(";"):
            self.connection.execute(statement)  # not executescript, which would commit the transaction
        found = self.connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found is None and "cases" in tables:
            found = ("1",)
        migrated = found is not None and found[0] in ("2", "3")
        if found is not None and found[0] == "2":  # format 3 adds members.integrator_stats and states
            self.connection.execute("ALTER TABLE members ADD COLUMN integrator_stats TEXT")
            found = ("3",)
        if found is not None and found[0] == "3":  # format 4 adds runs and the cases' run and timing columns
            for column, kind in _ADDED_CASE_COLUMNS:
                self.connection.execute(f"ALTER TABLE cases ADD COLUMN {column} {kind}")
            found = ("4",)
        if migrated:
            self.connection.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
        if found is not None and found[0] != SCHEMA_VERSION:
            raise SadbenchError(f"{self.path}: results file format {found[0]}, this sadbench reads format "
                                f"{SCHEMA_VERSION}; keep it and write new results elsewhere (--results DIR)")
        self.connection.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", [
            ("schema", SCHEMA_VERSION), ("sadbench_version", __version__), ("created_at", _now())])

    @contextmanager
    def transaction(self):
        """One write transaction that takes the write lock at once (waiting for other writers)."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def outcomes(self):
        """``case_id -> "finished" | "failed"`` for every stored case."""
        rows = self.connection.execute("SELECT case_id, error IS NULL FROM cases")
        return {case_id: "finished" if ok else "failed" for case_id, ok in rows}

    def save(self, record):
        """Store one case (replacing any earlier result under its id) in a single transaction."""
        params = record.params
        timing = record.timing or {"wall_times": [record.wall_time], "wall_time_min": record.wall_time,
                                   "wall_time_median": record.wall_time, "compile_time": None, "repeat": 1}
        row = (record.case_id, record.suite, record.label, _json(params), _json(record.provenance),
               params["network"]["activation"], json.dumps(params["network"]["widths"]), params["target"]["name"],
               params["loss"], params["integrator"]["name"], params["expect"], len(params["seeds"]), record.error,
               record.traceback, record.wall_time, record.worker, _now(), record.run_id,
               _json(timing["wall_times"]), timing["wall_time_min"], timing["wall_time_median"],
               timing["compile_time"], timing["repeat"])
        with self.transaction():
            for table in ("cases", "members", "series", "states"):
                self.connection.execute(f"DELETE FROM {table} WHERE case_id = ?", (record.case_id,))
            self.connection.execute(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) "
                                    f"VALUES ({', '.join('?' * len(CASE_COLUMNS))})", row)
            self.connection.executemany(
                f"INSERT INTO members VALUES ({', '.join('?' * len(MEMBER_COLUMNS))})",
                [(record.case_id, *(_json(m.get(c)) if c in JSON_COLUMNS else m.get(c) for c in MEMBER_COLUMNS[1:]))
                 for m in record.members],
            )
            for seed, series in record.series.items():
                self.connection.executemany(
                    "INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(record.case_id, seed, *row) for row in zip(*(series[name] for name in SERIES_COLUMNS))],
                )
            if record.state is not None:
                buffer = io.BytesIO()
                np.savez_compressed(buffer, **record.state)
                self.connection.execute("INSERT INTO states VALUES (?, ?, ?, ?, ?)", (
                    record.case_id, record.lineage, params["horizon"], record.continued_from, buffer.getvalue()))

    def latest_state(self, lineage, horizon):
        """(case_id, resume state dict) of the stored run of ``lineage`` with the longest horizon up to
        ``horizon``, or None."""
        row = self.connection.execute(
            "SELECT case_id, state FROM states WHERE lineage = ? AND horizon <= ? ORDER BY horizon DESC LIMIT 1",
            (lineage, horizon)).fetchone()
        if row is None:
            return None
        with np.load(io.BytesIO(row["state"]), allow_pickle=False) as data:
            return row["case_id"], dict(data)

    def continued_from(self, case_id):
        """The case whose stored state ``case_id`` continued, or None."""
        row = self.connection.execute("SELECT continued_from FROM states WHERE case_id = ?", (case_id,)).fetchone()
        return None if row is None else row[0]

    def begin_run(self, suite, command, options, environment):
        """Record the start of a run; returns its id (the cases it computes carry it)."""
        run_id = uuid.uuid4().hex[:16]
        with self.transaction():
            self.connection.execute(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES (?, ?, ?, NULL, ?, ?, ?)",
                (run_id, suite, _now(), command, _json(options), _json(environment)))
        return run_id

    def end_run(self, run_id):
        with self.transaction():
            self.connection.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (_now(), run_id))

    def runs(self):
        """Every recorded run as a dict, oldest first (``finished_at`` is None for a run that was killed)."""
        return [_decode(row) for row in self.connection.execute("SELECT * FROM runs ORDER BY started_at, rowid")]

    def meta(self):
        return {row["key"]: row["value"] for row in self.connection.execute("SELECT key, value FROM meta")}

    def cases(self, case_ids=None):
        """Case rows as dicts, in the order of ``case_ids`` when given (ids not stored are left out)."""
        rows = {row["case_id"]: _decode(row) for row in self.connection.execute("SELECT * FROM cases ORDER BY rowid")}
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


def open_results(path):
    """Open an existing results file for reading."""
    if not Path(path).is_file():
        raise SadbenchError(f"no results file at {path}")
    return Store(path)

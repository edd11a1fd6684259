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

``claims`` holds the cases a run is computing (with its host, pid and a heartbeat), so that two runs on one
file never compute the same case; a claim of a killed run expires (:meth:`Store.claim`).

``states`` keeps each case's resume state (:class:`sadbench.solvers.chunked.RunState`, compressed ``np.savez``
bytes) under its ``lineage``: the hash of everything but the horizon and the budgets, so that a case with a
longer horizon (or a larger budget) continues from the stored one instead of starting over.
"""

import io
import json
import os
import socket
import sqlite3
import tempfile
import time
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
#: A claim whose run has not renewed it for this long has expired (its run was killed on another host).
CLAIM_EXPIRES_S = 60.0
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
CREATE TABLE IF NOT EXISTS claims (case_id TEXT PRIMARY KEY, owner TEXT, host TEXT, pid INTEGER, heartbeat REAL);
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
        if not self.path.exists():
            _create(self.path)
        refuse_foreign(self.path)
        self._connect()

    @classmethod
    def _unchecked(cls, path):
        store = cls.__new__(cls)
        store.path = Path(path)
        store._connect()
        return store

    def _connect(self):
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
        """``case_id -> "finished" | "failed" | "nonfinite"`` for every stored case; "nonfinite": finished, but
        a member ended with status nonfinite."""
        rows = self.connection.execute(
            "SELECT case_id, error IS NULL, EXISTS (SELECT 1 FROM members WHERE members.case_id = cases.case_id "
            "AND status = 'nonfinite') FROM cases")
        return {case_id: ("nonfinite" if nonfinite else "finished") if ok else "failed"
                for case_id, ok, nonfinite in rows}

    def claim(self, case_id, owner, since):
        """Claim ``case_id`` for the run ``owner`` (``host:pid:tag``) started at ``since`` (ISO time): None if
        claimed, else why not: the owner of a live claim, or "stored" when another run stored the case after
        ``since``. A claim is live while its run renews it (:meth:`renew`) and, on this host, its process
        exists, so a killed run's claims expire at once here and after CLAIM_EXPIRES_S elsewhere."""
        with self.transaction():
            stored = self.connection.execute("SELECT finished_at FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if stored is not None and stored[0] > since:
                return "stored"
            held = self.connection.execute("SELECT owner, host, pid, heartbeat FROM claims WHERE case_id = ?",
                                           (case_id,)).fetchone()
            if held is not None and held["owner"] != owner and _live(held):
                return held["owner"]
            host, pid = owner.split(":")[:2]
            self.connection.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                                    (case_id, owner, host, int(pid), time.time()))
        return None

    def renew(self, owner):
        """Keep the claims of ``owner`` live."""
        with self.transaction():
            self.connection.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), owner))

    def release(self, owner):
        """Drop the claims of ``owner`` (its run ends)."""
        with self.transaction():
            self.connection.execute("DELETE FROM claims WHERE owner = ?", (owner,))

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
            for table in ("cases", "members", "series", "states", "claims"):
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


def _create(path):
    """Make a new, empty store appear at ``path`` whole: built beside it, then linked into place (unless
    another run's store got there first), so a run opening the file at that moment never sees a half-made
    file, which it would refuse as not a store."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    os.close(handle)
    try:
        Store._unchecked(name).close()
        try:
            os.link(name, path)
        except FileExistsError:
            pass
    finally:
        for leftover in (name, name + "-wal", name + "-shm"):
            Path(leftover).unlink(missing_ok=True)


def _live(claim):
    """Whether a claim's run still holds it: renewed lately and, on this host, its process exists."""
    if time.time() - claim["heartbeat"] > CLAIM_EXPIRES_S:
        return False
    if claim["host"] != socket.gethostname():
        return True
    try:
        os.kill(claim["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:  # a killed process that its parent has not reaped yet (Linux)
        return Path(f"/proc/{claim['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


SQLITE_HEADER = b"SQLite format 3\x00"


def refuse_foreign(path):
    """Raise unless ``path`` is a sadbench results file, reading it only (it is left byte for byte as it is):
    an empty file, a file of another kind, or an SQLite database without sadbench's ``meta`` table."""
    if not path.is_file():
        raise SadbenchError(f"{path}: not a file; a results file is an SQLite file written by sadbench")
    with open(path, "rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if not header:
        raise SadbenchError(f"{path}: an empty file, not a sadbench results file; left as it is")
    if header != SQLITE_HEADER:
        raise SadbenchError(f"{path}: not a sadbench results file (not an SQLite file); left as it is")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            columns = {row[1] for row in connection.execute("PRAGMA table_info(meta)")}
            ours = {"key", "value"} <= columns and ("cases" in tables or connection.execute(
                "SELECT 1 FROM meta WHERE key = 'schema'").fetchone() is not None)
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise SadbenchError(f"{path}: not a readable sadbench results file ({exc}); left as it is") from None
    if not ours:
        raise SadbenchError(f"{path}: an SQLite file, but not a sadbench results file; left as it is")


def open_results(path):
    """Open an existing results file for reading."""
    if not Path(path).is_file():
        raise SadbenchError(f"no results file at {path}")
    return Store(path)

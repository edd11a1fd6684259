"""``sadbench export``: the tables of :mod:`sadbench.results` as Parquet, CSV or JSON lines.

The three formats hold the same columns as the DataFrames (``res.cases()``, ``res.members()``,
``res.series()``). Parquet keeps every type (nullable integers included) and reads back equal; CSV writes
floats in full precision (``repr``) with an empty field for a missing value; JSON lines write ``null``.
"""

import json
import sys

from sadbench.errors import SadbenchError

FORMATS = ("parquet", "csv", "jsonl")
TABLES = ("members", "cases", "series")


def table(results, name):
    """The DataFrame ``name`` (one of TABLES) of a :class:`sadbench.results.Results`."""
    if name not in TABLES:
        raise SadbenchError(f"--table: expected one of {', '.join(TABLES)}, got {name!r}")
    return getattr(results, name)()


def _arrow_safe(frame):
    """Object columns holding more than one Python type (a plugin parameter that is a number in one case and
    a string in another) as text, which Arrow can store; everything else unchanged."""
    frame = frame.copy()
    for column in frame.columns[frame.dtypes == object]:
        kinds = {type(v) for v in frame[column] if v is not None and v == v}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    return frame


def write(frame, fmt, out=None):
    """Write ``frame`` as ``fmt`` to the file ``out`` (None: standard output, not for Parquet)."""
    if fmt not in FORMATS:
        raise SadbenchError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        if out is None:
            raise SadbenchError("--format parquet writes a binary file: give --out PATH")
        _open(out, "wb").close()  # a clear error for a path that cannot be written
        _arrow_safe(frame).to_parquet(out, index=False)
        return
    stream = sys.stdout if out is None else _open(out, "w")
    try:
        if fmt == "csv":
            frame.to_csv(stream, index=False, float_format=lambda x: repr(float(x)), lineterminator="\n")
        else:
            for record in _records(frame):
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if out is not None:
            stream.close()


def _records(frame):
    """Rows as dicts of plain Python values (floats in full precision), None for a missing value."""
    plain = frame.astype(object).where(frame.notna(), None)
    for row in plain.itertuples(index=False, name=None):
        yield {c: v.item() if hasattr(v, "item") else v for c, v in zip(frame.columns, row)}


def _open(path, mode):
    try:
        return open(path, mode, newline="" if "b" not in mode else None)
    except OSError as exc:
        raise SadbenchError(f"cannot write {path}: {exc.strerror}") from None

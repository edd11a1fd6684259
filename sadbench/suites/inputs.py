"""What a case reads: the data its target builds, and the files behind them.

A target parameter named ``path`` is a file, relative to the suite's folder. Its content is hashed into the
case's identity (:mod:`sadbench.suites.provenance`), so an edited data file makes a new case instead of
serving the stored result of the old data. The data are built and checked when the suite is loaded
(:mod:`sadbench.suites.schema`) and again where the case runs.
"""

import hashlib
from pathlib import Path

#: The target parameter that names a file to read.
PATH_PARAMETER = "path"


def case_data(target, registry, base):
    """(X, Y) of a case's ``target`` section (name, data seed and the target's parameters)."""
    params = dict(target)
    name, seed = params.pop("name"), params.pop("seed")
    if PATH_PARAMETER in params:
        params[PATH_PARAMETER] = str(Path(base) / str(params[PATH_PARAMETER]))
    return registry.get("target", name)(seed=seed, **params)


def case_files(target, base):
    """``{path as written: absolute path}`` of the files a case's target reads."""
    if PATH_PARAMETER not in target:
        return {}
    written = str(target[PATH_PARAMETER])
    return {written: (Path(base) / written).resolve()}


def file_digest(path):
    """A short content hash of the file at ``path`` ("missing" if it cannot be read)."""
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"

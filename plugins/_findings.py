"""Helpers the built-in detectors share to build their findings."""

import numpy as np

from sadbench import Finding


def undecided(detector, trace, evidence, reason):
    return Finding(detector, "undecided", float(trace.t_final), evidence, reason=reason)


def floats(**values):
    """Evidence as plain Python numbers (JSON and SQLite friendly)."""
    def plain(v):
        if isinstance(v, np.bool_):
            return bool(v)
        return float(v) if isinstance(v, (float, np.floating, np.integer)) else v

    return {k: plain(v) for k, v in values.items()}

"""A detector that kills the process it runs in the first time it assesses a member, so a test can lose a
Dask worker in the middle of a case at a known point (and not the test's own process, which only checks)."""

import os
import signal
from pathlib import Path

import sadbench


class DieOnce:
    """SIGKILLs its own process unless ``marker`` exists (it creates it first), then decides nothing."""

    def __init__(self, marker, spare_pid=0):
        self.marker, self.spare_pid = Path(marker), spare_pid

    def events(self):
        return {}

    def assess(self, trace):
        if os.getpid() != self.spare_pid and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return None


@sadbench.hookimpl
def sadbench_register_detectors(register):
    register(sadbench.Detector("die_once", DieOnce, description=DieOnce.__doc__))

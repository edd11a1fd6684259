"""A detector that only waits, so a case takes a known wall time however fast the machine is (the SIGKILL
test needs a run that is surely in the middle of a case when it is killed)."""

import time

import sadbench


class Pause:
    """Sleeps ``seconds`` per member, decides nothing."""

    def __init__(self, seconds=0.5):
        self.seconds = seconds

    def events(self):
        return {}

    def assess(self, trace):
        time.sleep(self.seconds)
        return None


@sadbench.hookimpl
def sadbench_register_detectors(register):
    register(sadbench.Detector("pause", Pause, description=Pause.__doc__))

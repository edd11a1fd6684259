"""Progress of a run: a bar with counts and ETA on a terminal, one plain line per event otherwise (logs,
CI, ``nohup``), where a redrawn bar would be noise."""

import threading
import time

_BAR_WIDTH = 24
_REDRAW_S = 1.0
COMPILING = "compiling kernels, first run only"


def duration(seconds):
    """``1h02m``, ``3m05s``, ``12s``."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def summary(record):
    """One case's outcome in words: its error, or its verdict counts."""
    if record.error is not None:
        return f"failed: {record.error}"
    labels = [m["verdict"] for m in record.members]
    counts = ", ".join(f"{label} ×{labels.count(label)}" for label in dict.fromkeys(labels))
    return f"{len(labels)} seeds integrated in {record.wall_time:.2f} s: {counts}"


class Progress:
    """Reports a run of ``total`` cases to ``stream`` (None: silent); ``tty`` defaults to whether the stream
    is a terminal."""

    def __init__(self, total, stream=None, tty=None):
        self.total, self.stream = total, stream
        self.tty = stream is not None and (stream.isatty() if tty is None else tty)
        self.done = self.failed = 0
        self.current = ""
        self._compiling = 0  # nesting depth of numba compilations under way
        self._told_compiling = False
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if self.tty and total:
            threading.Thread(target=self._tick, daemon=True).start()

    def _write(self, text):
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()

    def eta(self):
        """Seconds left, from the mean time per finished case so far (cases in parallel included)."""
        if not self.done:
            return float("nan")
        return (time.monotonic() - self.start) / self.done * (self.total - self.done)

    def _counts(self):
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} cases{failed}, {duration(time.monotonic() - self.start)} elapsed, " \
               f"ETA {duration(self.eta())}"

    def _bar(self):
        filled = round(_BAR_WIDTH * self.done / self.total) if self.total else _BAR_WIDTH
        return f"\r\x1b[K[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {self._counts()}  {self.current}"

    def _tick(self):
        while not self._stop.wait(_REDRAW_S):
            with self._lock:
                self._write(self._bar())

    def _line(self, text):
        """A line that stays: above the bar on a terminal."""
        with self._lock:
            self._write(("\r\x1b[K" + text + "\n" + self._bar()) if self.tty else text + "\n")

    def planned(self, suite, n_cases, todo, path):
        """The first line of a run that has cases to run: what it will do, and where the results go."""
        if not todo:
            return
        members = sum(len(task.case.seeds) for task in todo)
        integrators = ", ".join(sorted({task.case.params["integrator"]["name"] for task in todo})) or "none"
        self._line(f"{suite}: {len(todo)} of {n_cases} cases to run, {members} members, integrators: {integrators}; "
                   f"results in {path}")

    def compiling(self, started):
        """numba started (or finished) compiling: a step of its own on the display, so that a first run's
        compilation is not a silent terminal. Nested compilations count once."""
        self._compiling += 1 if started else -1
        if started and self._compiling == 1:
            self.current, self._running = COMPILING, self.current
            if not self._told_compiling:
                self._told_compiling = True
                self._line(f"{COMPILING} (numba caches the machine code on disk) ...")
        elif not started and self._compiling == 0:
            self.current = self._running

    def skipped(self, finished, failed, nonfinite=()):
        """Cases stored before this run and not run again (``Task`` lists)."""
        if finished:
            self._line(f"skipped {len(finished)} cases already stored (--rerun runs them again)")
        for tasks, what in ((failed, "failed cases"), (nonfinite, "cases with members that ended non-finite")):
            if tasks:
                labels = ", ".join(repr(t.label) for t in tasks)
                self._line(f"skipped {len(tasks)} {what} stored earlier (--retry-failed runs them again): {labels}")

    def elsewhere(self, task, holder):
        """A case left to another run on the same results file (``holder``: its owner, or "stored")."""
        self.total -= 1
        why = "stored by another run meanwhile" if holder == "stored" else f"being run by {holder}"
        self._line(f"skipped {task.label} ({task.case_id}): {why}")

    def started(self, task):
        self.current = task.label
        if not self.tty:
            origin = "" if task.continued_from is None else (
                f", continuing {task.continued_from} from t = {task.start['times'][-1]:g}")
            self._line(f"[{self.done + 1}/{self.total}] {task.label} ({task.case_id}): running "
                       f"{len(task.case.seeds)} seeds to t = {task.case.params['horizon']:g}{origin}")

    def finished(self, record):
        self.done += 1
        self.failed += record.error is not None
        head = f"[{self.done}/{self.total}] {record.label} ({record.case_id}): {summary(record)}"
        if self.tty:
            if record.error is not None:
                self._line(head)
            else:
                with self._lock:
                    self._write(self._bar())
        else:
            self._line(f"{head}; {self._counts()}")

    def close(self):
        self._stop.set()
        if self.tty and self.total:
            with self._lock:
                self._write(self._bar() + "\n")

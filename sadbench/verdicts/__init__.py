"""What a trajectory does in the end: its series on a log-time axis and the verdict combined from detectors."""

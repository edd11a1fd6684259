"""Results for notebooks: ``sadbench.open_results(path)`` and its tidy DataFrames.

>>> res = sadbench.open_results("results/quickstart.sqlite")
>>> res.cases()          # one row per case: params as columns, verdict counts, L*, wall times
>>> res.members()        # one row per case and seed: status, verdict, L*, counts, evidence
>>> res.series()         # one row per saved time: t, L, ||θ||, ||∇L||, R, ...
>>> res.environment()    # versions, git commit, CPU, GPU, start and end of the latest run

The columns are documented in :mod:`sadbench.results.frames`; ``sadbench export`` writes the same tables
(:mod:`sadbench.results.export`), ``sadbench compare`` compares two files (:mod:`sadbench.results.compare`).
pandas is imported when a file is opened, not with sadbench.
"""


def open_results(path):
    """The results file at ``path`` as a :class:`sadbench.results.reader.Results` (raises SadbenchError if
    it is not one)."""
    from sadbench.results.reader import Results

    return Results(path)

"""The premises of every case of a suite (:mod:`sadbench.verdicts.premises`), for ``sadbench validate``: which
theorems apply to each case, and the ``expect:`` labels that rest on no premise that holds."""

from sadbench.model.network import Network
from sadbench.report.table import render
from sadbench.suites.inputs import case_data
from sadbench.verdicts.premises import case_premises, expectation_warning

PREMISE_COLUMNS = ("sad", "unattained", "chatterjee", "ji_telgarsky", "bounded")


def suite_premises(suite):
    """[(case, CasePremises)] for every case of a loaded suite, in order (each distinct case built once)."""
    out = []
    for case in suite.cases:
        params = case.params
        network = params["network"]
        net = Network(network["widths"], network["activation"], network["bias"], registry=suite.registry)
        X, Y = case_data(params["target"], suite.registry, suite.path.parent)
        out.append((case, case_premises(net, X, Y, suite.registry.get("loss", params["loss"]))))
    return out


def premises_report(suite):
    """(table, warnings): one row per case with its data floor and whether each theorem's premises hold, and
    one line per case whose ``expect:`` rests on none that does."""
    rows, warnings = [], []
    for case, premises in suite_premises(suite):
        rows.append([case.label, f"{premises.floor.value:.4g}"]
                    + [premises.premises[name].holds for name in PREMISE_COLUMNS] + [case.params["expect"] or ""])
        warning = expectation_warning(case.params["expect"], premises)
        if warning:
            warnings.append(f"warning: case {case.label!r}: {warning}")
    return render(("case", "data floor", *PREMISE_COLUMNS, "expect"), rows), warnings

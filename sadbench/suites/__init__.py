"""YAML suites: loading, expansion, running, storing, and the provenance that keys stored results."""

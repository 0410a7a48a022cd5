"""The light read load lives in benchmarks/readload.py, which the benchmarks use too."""
from benchmarks.readload import Load, failures, pages, settle  # noqa: F401 - the e2e tests import them from here

"""The e2e tests' site and stack live in benchmarks/site.py, which the benchmarks use too."""
from benchmarks.site import (  # noqa: F401 - the e2e tests import them from here
    IGNORE,
    Ports,
    Stack,
    cmdline,
    copy_project,
    edge_config,
    run,
    site_config,
)

"""`python -m sitestack.worker`: see the package docstring for the arguments."""
import sys

from sitestack.worker.runner import main

sys.exit(main())

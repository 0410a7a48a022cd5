"""`python -m worker`: see the package docstring for the arguments."""
import sys

from worker.runner import main

sys.exit(main())

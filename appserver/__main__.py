"""`python -m appserver`: see the package docstring for the arguments."""
import sys

from appserver.runner import main

sys.exit(main())

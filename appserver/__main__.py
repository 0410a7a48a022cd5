"""`python -m sitestack.appserver`: see the package docstring for the arguments."""
import sys

from sitestack.appserver.runner import main

sys.exit(main())

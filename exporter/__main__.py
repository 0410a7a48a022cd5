import sys

from sitestack.exporter.main import main

sys.exit(main())

import sys

from exposcan.cli import main

sys.exit(main())

import sys

from cloaker.cli import main

sys.exit(main())

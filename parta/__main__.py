import sys

from parta.cli import main

sys.exit(main())

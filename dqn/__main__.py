import sys

from dqn.cli import main

sys.exit(main())

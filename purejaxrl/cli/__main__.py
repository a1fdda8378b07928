import sys

from purejaxrl.cli import main

sys.exit(main())

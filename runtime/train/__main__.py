"""`python -m runtime.train …` — the entry point torchrun launches on every process."""

import sys

from runtime.train.cli import main

sys.exit(main())

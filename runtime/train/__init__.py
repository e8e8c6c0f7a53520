"""The PULSE trainer: `ecgspec train` / `python -m runtime.train` (torchrun-able). Imports torch only when run."""

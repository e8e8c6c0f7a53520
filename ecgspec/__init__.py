"""ecgspec: a declarative language and compiler for synthetic ECG-image instruction-tuning data."""

__version__ = "0.1.0"

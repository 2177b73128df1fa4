"""The gateway benchmark: ``make bench`` or ``python -m bench --help``."""

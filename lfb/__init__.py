"""London Fire Brigade response-time dashboard: the library behind the app, the CLI and the scheduler."""

__version__ = "0.1.0"

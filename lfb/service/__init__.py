"""Service layer: the jobs the CLI, the app and the scheduler run, and the locks that keep them one at a time."""

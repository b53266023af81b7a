"""Entry point for `python -m lfb`."""
from lfb.cli import main

raise SystemExit(main())

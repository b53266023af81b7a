"""The scheduler sidecar, run beside the app: `python scheduler.py` (stop it with Ctrl-C or SIGTERM).

It runs the monthly pipeline (LFB_PIPELINE_CRON, default the 15th at 02:00 London time) and the jobs asked from the
app or the CLI (`python -m lfb request KIND`); everything is in lfb/service/scheduler.py.
"""
import sys

from lfb.service.scheduler import main

if __name__ == "__main__":
    sys.exit(main())

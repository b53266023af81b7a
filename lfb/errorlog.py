"""The error log (data/errors.log): where an unexpected error's traceback goes, so that no user ever sees one."""
from __future__ import annotations

import traceback
from pathlib import Path

from lfb.config import Settings


def append_traceback(settings: Settings, header: str, exc: BaseException) -> Path | None:
    """Append `header` and the traceback of `exc` to the error log; return its path (None if it cannot be written)."""
    try:
        settings.error_log.parent.mkdir(parents=True, exist_ok=True)
        with settings.error_log.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {header}\n{''.join(traceback.format_exception(exc))}")
    except OSError:
        return None
    return settings.error_log

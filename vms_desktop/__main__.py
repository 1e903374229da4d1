"""``python -m vms_desktop``: start the application."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the application and exit with its status."""
    from vms_desktop.app import main as run

    try:
        status = run(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``vms-desktop verify | head``): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()

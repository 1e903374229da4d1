"""``python -m vms_desktop``: start the application."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the application and exit with its status."""
    from vms_desktop.app import main as run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()

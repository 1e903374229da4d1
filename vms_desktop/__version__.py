"""Version of vms_desktop, defined in one place."""

__version__ = "0.1.0"

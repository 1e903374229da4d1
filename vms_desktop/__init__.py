"""Video management console: live cameras, event clips, clip library and an HTTP API."""

from vms_desktop.__version__ import __version__

__all__ = ["__version__"]

"""Operator console (Qt): live grid, event feed, clip library, player, timeline.

Importing this package pins the Qt binding to PySide6 before qasync or pyqtgraph are imported
(both would otherwise pick PyQt6 when it happens to be installed).
"""

import os

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

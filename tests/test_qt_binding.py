"""The Qt binding in use survives long runs of Qt calls that return nothing.

PySide6-Essentials 6.12.0 on Python 3.11 drops a reference to None on every such call and
the interpreter aborts (`Fatal Python error: none_dealloc`) after a few thousand: a
256-photo session died of it. pyproject.toml keeps the binding below 6.12; this test runs
the reproducer in a fresh interpreter, so a binding that regresses fails here, not in a
user's session.
"""

import os
import subprocess
import sys
from importlib.metadata import version

REPRODUCER = """
import os
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
app = QApplication([])
for _ in range(30_000):
    app.processEvents()
print("survived")
"""


def test_thirty_thousand_bare_qt_calls_do_not_abort_the_interpreter():
    done = subprocess.run([sys.executable, "-c", REPRODUCER], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, f"interpreter died (exit {done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.strip() == "survived"


def test_installed_binding_is_inside_the_pinned_range():
    major, minor = (int(part) for part in version("PySide6-Essentials").split(".")[:2])
    assert (6, 6) <= (major, minor) < (6, 12)

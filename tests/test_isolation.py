"""The test run never writes the real user's settings or data (conftest.py redirects them)."""

import uuid
from pathlib import Path

from conftest import TEST_HOME, USER_SETTINGS_BEFORE, USER_SETTINGS_FILE, _snapshot

from vit_gui.gui.main_window import MainWindow
from vit_gui.gui.settings import Settings
from vit_gui.resources import user_data_dir


def test_default_settings_and_data_live_in_the_test_folders(private_data_dir):
    assert Path(Settings().q.fileName()).is_relative_to(TEST_HOME)
    assert user_data_dir() == private_data_dir
    assert not Path(Settings().q.fileName()).is_relative_to(USER_SETTINGS_FILE.parent)


def test_a_window_with_default_settings_leaves_the_users_settings_untouched(qtbot):
    """The user's own vit-gui may be open and save its settings while the tests run: the
    test asks whether *this* window wrote there (a marker no one else writes), not whether
    the file changed."""
    marker = f"isolation-{uuid.uuid4().hex}"
    window = MainWindow()  # the app's own default settings, as a real launch uses
    qtbot.addWidget(window)
    window.show()
    window.top_k.setValue(7 if window.top_k.value() != 7 else 6)
    window.settings.set("test_marker", marker)
    window.close()
    written = Path(window.settings.q.fileName())
    assert written.is_relative_to(TEST_HOME) and written != USER_SETTINGS_FILE
    assert written.is_file() and "top_k" in written.read_text() and marker in written.read_text()
    after = _snapshot(USER_SETTINGS_FILE)
    assert after == USER_SETTINGS_BEFORE or marker not in str(after)

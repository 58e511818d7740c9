"""`vit-gui --self-test` runs the shortcut check (scikit-learn and scipy), so a packaged app
that lacks them fails its self-test instead of telling a user to install vit-gui with pip."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vit_gui.selftest import SHORTCUT_MAPS, made_up_maps, shortcut_counts, shortcut_photos

#: a copy of vit-gui without scikit-learn and scipy, as build.spec once froze it: the imports fail
WITHOUT_THEM = "import sys; sys.modules['sklearn'] = sys.modules['scipy'] = None; "


def self_test(tmp_path, model, blocked: str = ""):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", VIT_GUI_DATA_DIR=str(tmp_path / "data"))
    code = blocked + "from vit_gui.cli import main; raise SystemExit(main(sys.argv[1:]))"
    if not blocked:
        code = "import sys; " + code
    return subprocess.run([sys.executable, "-c", code, "--self-test", "--model", str(model)], env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_self_test_runs_the_shortcut_check(tmp_path, tiny_checkpoint):
    proc = self_test(tmp_path, tiny_checkpoint)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    check = [line for line in lines if "shortcut check" in line]
    assert len(check) == 1 and check[0].startswith("ok   shortcut check"), proc.stdout
    assert "12 photos of 2 classes" in check[0] and "6 groups" in check[0]
    assert lines[-1] == "SELF-TEST PASSED"


def test_a_copy_without_scikit_learn_or_scipy_fails_its_self_test(tmp_path, tiny_checkpoint):
    proc = self_test(tmp_path, tiny_checkpoint, blocked=WITHOUT_THEM)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL shortcut check: ModuleNotFoundError" in proc.stdout
    # the other steps still pass: only the check is missing
    for step in ("load model", "classify a bundled photo", "rollout", "write overlay PNG", "main window", "help page"):
        assert f"ok   {step}" in proc.stdout, proc.stdout
    assert proc.stdout.splitlines()[-1] == "SELF-TEST FAILED"


def test_the_made_up_photos_are_two_class_folders(tmp_path):
    from vit_gui.audit.collect import read_folder
    from vit_gui.audit.findings import MIN_PHOTOS

    folder = read_folder(shortcut_photos(tmp_path / "shortcuts"))
    assert folder.classes == ["chelsea", "coffee"] and not folder.skipped
    assert [folder.truth.count(c) for c in (0, 1)] == [MIN_PHOTOS, 2] == list(shortcut_counts().values())


@pytest.mark.parametrize("per_kind", SHORTCUT_MAPS)
def test_the_made_up_maps_are_kinds_apart(per_kind):
    from vit_gui.audit.groups import MAX_GROUPS, group_maps

    maps = made_up_maps(per_kind)
    assert maps.shape == (MAX_GROUPS * per_kind, 16, 16)
    groups = group_maps(maps)
    assert sorted(sorted(g.members) for g in groups) == [list(range(k, len(maps), MAX_GROUPS))
                                                          for k in range(MAX_GROUPS)]

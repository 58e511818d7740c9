"""The shortcut check in the window (issue #30): File > "Check a folder for shortcuts…", the
Teach window's "Check for shortcuts…" on the model in memory, pictures first, a finding's
photos opened in the main list, Cancel, the web page; and the pictures themselves, headless."""

import numpy as np
import pytest
from PIL import Image

from vit_gui.audit.pictures import ClassPictures, FindingPicture, Photos, draw, typical


@pytest.fixture
def class_folder(tmp_path, photos):
    """Two class folders of real photo crops (12 each)."""
    from conftest import crop_class_folders

    return crop_class_folders(tmp_path / "data", photos, seed=1, size=(96, 80))


def finished(qtbot, check, timeout=120_000):
    qtbot.waitUntil(lambda: check.outcome is not None or bool(check.error), timeout=timeout)
    assert check.outcome is not None, check.status.text()
    return check.outcome


def test_the_typical_photo_is_the_one_whose_map_is_nearest_the_mean():
    heats = np.zeros((3, 4, 4))
    heats[0, 0, 0] = heats[1, 1, 1] = heats[2, 0, 1] = 1.0
    mean = np.full((4, 4), 0.0)
    mean[0, 1], mean[0, 0] = 0.6, 0.4
    assert typical(heats, mean) == 2


def test_a_map_is_drawn_over_the_photo_not_over_its_letterbox(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (0, 0, 0)).save(path)
    heat = np.zeros((16, 16), np.float32)
    heat[4:12, :8] = 1.0  # the left half of where the photo sits: rows 4-11 of the view
    picture = Photos(size=100).map_over(str(path), heat, (0.0, 0.25, 1.0, 0.75), opacity=1.0)
    assert picture.size == (100, 50)
    pixels = np.asarray(picture).astype(int).sum(axis=2)
    assert pixels[:, :40].mean() > 2 * pixels[:, 60:].mean()  # the hot half lands on the photo's left half


def test_the_window_check_shows_every_class_as_pictures_and_opens_photos_in_the_main_list(
        qtbot, tmp_path, tiny_checkpoint, class_folder):
    from gui_helpers import make_window, wait_idle

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    titles = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Check a folder for s&hortcuts…" in titles
    check = window.shortcut_checks.open(class_folder)
    outcome = finished(qtbot, check)
    assert [s.title() for s in check.sections] == ["cats — 12 photos", "things — 12 photos"]
    for section, item in zip(check.sections, outcome.report["classes"]):
        assert section.groups.count() == len(item["groups"]) >= 1  # pictures of how it decided
        assert not section.groups.item(0).icon().isNull()
        assert section.parts.count() == len(item["parts"])
    assert "Read from each photo's Grad-CAM map" in check.summary.text() and "24 photos" in check.status.text()
    from vit_gui.gui.audit_sections import PATH_ROLE

    group = check.sections[1].groups.item(0)
    wanted = group.data(PATH_ROLE)
    check.sections[1].groups.itemActivated.emit(group)  # double-click or Enter: its photos in the main list
    wait_idle(qtbot, window)
    listed = [window.results.item_text(k).split("\n")[0] for k in window.results.keys()]
    assert sorted(listed) == sorted(p.rsplit("/", 1)[-1] for p in wanted)
    assert window.results.current_key() is not None
    thread = check.thread
    window.close()
    qtbot.waitUntil(lambda: not thread.isRunning(), timeout=10_000)  # closing the main window stopped it


def test_a_finding_card_shows_its_photos_then_its_words_and_lists_them_all(qtbot, tmp_path):
    from vit_gui.gui.audit_sections import ClassSection

    paths = []
    for k in range(15):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.new("RGB", (60, 40), (k * 10, 0, 0)).save(paths[-1])
    photos = Photos()
    finding = FindingPicture("same_spot", "the evidence for \"marked\" sits on the same spot in 93% of its photos",
                             paths, [(p, photos.thumb(p, (0.5, 0.0, 1.0, 0.5))) for p in paths[:12]])
    section = ClassSection(ClassPictures(0, "marked", 15, [finding]))
    qtbot.addWidget(section)
    [card] = section.cards
    layout = card.layout()
    assert layout.itemAt(1).widget() is card.strip and card.strip.count() == 12  # pictures first ...
    assert layout.itemAt(2).widget().text().startswith("The evidence for")  # ... words second
    assert card.show_button.text() == "Show these 15 photos in the main list"
    with qtbot.waitSignal(section.show_photos) as shown:
        card.show_button.click()
    assert shown.args == [paths]


def test_cancel_stops_the_check_and_keeps_nothing(qtbot, tmp_path, tiny_checkpoint, class_folder):
    from vit_gui.gui.audit_window import AuditWindow

    check = AuditWindow(class_folder, str(tiny_checkpoint))
    qtbot.addWidget(check)
    check.run()
    check.cancel_audit()  # before the worker has begun: the request must not be forgotten
    qtbot.waitUntil(lambda: bool(check.error), timeout=60_000)
    assert check.outcome is None and check.status.text() == "cancelled: nothing was kept"
    assert not check.save_page.isEnabled()
    check.done(0)


def test_the_teach_window_checks_the_photos_it_taught_with_before_saving(qtbot, tmp_path, tiny_checkpoint,
                                                                         class_folder):
    from gui_helpers import taught_in_window

    teach = taught_in_window(qtbot, tiny_checkpoint, [class_folder])
    assert teach.result is not None and teach.check_shortcuts.isEnabled()
    teach.check_shortcuts.click()
    check = teach.shortcuts
    outcome = finished(qtbot, check)
    assert [c["name"] for c in outcome.report["classes"]] == ["cats", "things"]
    taught = sorted(str(p) for p, _ in teach.result.taught.dataset.items)
    assert sorted(p for c in outcome.report["classes"] for p in c["photos"]) == taught
    assert outcome.report["model"] == teach.result.model.info.name  # the model in memory, not saved yet
    assert outcome.report["model"].endswith("(not saved yet)") and outcome.report["folder"] == str(class_folder)
    assert "24 photos taught from data" in check.windowTitle()
    with qtbot.waitSignal(teach.show_photos) as shown:
        check.sections[0].groups.itemActivated.emit(check.sections[0].groups.item(0))
    assert set(shown.args[0]) <= set(taught)
    page = check.save_page_to(tmp_path / "checked.html")
    assert page == tmp_path / "checked.html" and page.read_text(encoding="utf-8").count("<img") >= 24
    thread = check.thread
    teach.done(0)
    qtbot.waitUntil(lambda: not thread.isRunning(), timeout=10_000)


def test_the_pictures_match_the_report(tmp_path, tiny_checkpoint, class_folder):
    from vit_gui.audit.run import audit, to_json
    from vit_gui.predict import Predictor

    result = audit(class_folder, Predictor.from_file(tiny_checkpoint))
    report = to_json(result)
    drawn = draw(result, report)
    assert [(p.name, p.count) for p in drawn] == [(c["name"], len(c["photos"])) for c in report["classes"]]
    for pictures, item in zip(drawn, report["classes"]):
        assert [g.size for g in pictures.groups] == [g["size"] for g in item["groups"]]
        for group in pictures.groups:
            assert group.typical in group.photos and max(group.picture.size) == 112
        assert [len(p.crops) for p in pictures.parts] == [len(p["crops"]) for p in item["parts"]]


def test_drawing_keeps_only_the_last_photos_read(tmp_path):
    paths = []
    for k in range(5):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.new("RGB", (900, 600), (k * 40, 0, 0)).save(paths[-1])
    photos = Photos(kept=3)
    first = [photos.get(p) for p in paths]
    assert list(photos.cache) == paths[2:]  # 10,000 photos drawn keep 3 in memory, not 10,000
    assert photos.get(paths[4]) is first[4] and max(first[0].size) == 4 * 112


def test_classes_with_a_finding_come_first_then_the_largest():
    def item(name, photos, kinds=()):
        return {"name": name, "photos": [f"{name}{k}" for k in range(photos)],
                "findings": [{"kind": kind, "photos": [f"{name}0"] * n} for kind, n in kinds]}

    report = {"classes": [item("small", 3, [("too_few", 3)]), item("big", 50), item("spot", 20, [("same_spot", 12)]),
                          item("bg", 30, [("outside_object", 25)]), item("mid", 40)]}
    from vit_gui.audit.pictures import shortcut_first

    assert [report["classes"][i]["name"] for i in shortcut_first(report)] == ["bg", "spot", "big", "mid", "small"]


def test_past_the_classes_drawn_the_rest_are_listed_in_words(qtbot, tmp_path, tiny_checkpoint, class_folder,
                                                             monkeypatch):
    import vit_gui.gui.audit_worker as worker
    from vit_gui.gui.audit_window import AuditWindow

    monkeypatch.setattr(worker, "DRAWN", 1)
    check = AuditWindow(class_folder, str(tiny_checkpoint))
    qtbot.addWidget(check)
    check.run()
    outcome = finished(qtbot, check)
    assert len(check.sections) == len(outcome.pictures) == 1
    rows = check.more.list
    assert rows.count() == 1 and rows.item(0).text().startswith(("cats — 12 photos: ", "things — 12 photos: "))
    with qtbot.waitSignal(check.show_photos) as shown:
        rows.itemActivated.emit(rows.item(0))
    assert len(shown.args[0]) == 12
    text = check.save_page_to(tmp_path / "page.html").read_text(encoding="utf-8")
    assert "1 more class, in words" in text and text.count("<h2>") == 2
    check.done(0)


def test_closing_a_check_mid_analysis_lets_the_app_go_on_at_once(qtbot, tiny_checkpoint, class_folder, monkeypatch):
    import time

    import vit_gui.audit.run as run
    from vit_gui.gui.audit_window import AuditWindow

    analyse = run.analyse
    monkeypatch.setattr(run, "analyse", lambda *a, **k: (time.sleep(4), analyse(*a, **k))[1])  # a big folder's seconds
    check = AuditWindow(class_folder, str(tiny_checkpoint))
    qtbot.addWidget(check)
    check.run()
    qtbot.waitUntil(lambda: check.progress.value() == 24, timeout=60_000)  # every photo read: analysing now
    thread, started = check.thread, time.monotonic()
    check.done(0)
    assert time.monotonic() - started < 1.0  # it blocked the GUI for the analysis's seconds before
    assert thread.isRunning()  # the analysis ends on its own thread, the result thrown away
    qtbot.waitUntil(lambda: not thread.isRunning(), timeout=30_000)


def test_a_folder_with_nothing_readable_says_nothing_was_checked(qtbot, tmp_path, tiny_checkpoint):
    from vit_gui.gui.audit_window import AuditWindow

    folder = tmp_path / "broken"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        (folder / name / "x.jpg").write_bytes(b"not a photo")
    check = AuditWindow(folder, str(tiny_checkpoint))
    qtbot.addWidget(check)
    check.run()
    finished(qtbot, check)
    assert check.status.text().startswith("nothing was checked") and not check.save_page.isEnabled()
    assert "stood out" not in check.summary.text()  # not "all is well" about photos never read
    assert check.failed.text().startswith("Left out (2 could not be read):\nx.jpg:")
    assert not check.again.isHidden()  # 'Check again' offered
    check.done(0)


def test_the_summary_names_classes_too_small_to_tell_and_long_names_are_shortened():
    from vit_gui.audit.pictures import ClassPictures
    from vit_gui.gui.audit_sections import ClassSection
    from vit_gui.gui.audit_window import summary_words

    report = {"map": "gradcam", "classes": [
        {"name": "cats", "photos": ["a"] * 3, "findings": [{"kind": "too_few", "photos": []}]},
        {"name": "dogs", "photos": ["b"] * 30, "findings": [{"kind": "same_spot", "photos": ["b"]}]}]}
    words = summary_words(report)
    assert 'Look at: "dogs" (same spot).' in words and 'Too few photos to tell' in words and '"cats"' in words
    section = ClassSection(ClassPictures(0, "x" * 400, 30))
    assert len(section.title()) < 80 and section.toolTip().count("x") == 400


def test_cancel_is_not_overwritten_by_progress_already_on_its_way(qtbot, tiny_checkpoint, class_folder):
    from vit_gui.gui.audit_window import AuditWindow

    check = AuditWindow(class_folder, str(tiny_checkpoint))
    qtbot.addWidget(check)
    check.cancel.setEnabled(True)
    check.cancel_audit()
    check.on_progress(16, 24, 0.4)
    assert check.status.text() == "stopping…"
    check.done(0)


def test_teaching_again_closes_the_check_of_the_model_taught_before(qtbot, tiny_checkpoint, class_folder):
    from gui_helpers import taught_in_window

    teach = taught_in_window(qtbot, tiny_checkpoint, [class_folder])
    teach.check_shortcuts.click()
    first = teach.shortcuts
    finished(qtbot, first)
    teach.start_teaching()
    assert teach.shortcuts is None and not first.isVisible()
    qtbot.waitUntil(lambda: teach.result is not None or teach.status.text().startswith("not taught"), timeout=60_000)
    teach.done(0)


def test_the_analysis_stops_between_classes_when_cancelled(tiny_checkpoint, class_folder):
    from vit_gui.audit.collect import AuditCancelled, collect, read_folder
    from vit_gui.audit.run import analyse
    from vit_gui.predict import Predictor

    collected = collect(Predictor.from_file(tiny_checkpoint), read_folder(class_folder))
    asked = []
    with pytest.raises(AuditCancelled):
        analyse(collected, cancelled=lambda: asked.append(1) or len(asked) > 1)  # cancelled after the first class
    assert len(asked) == 2


def test_photos_on_two_drives_have_no_common_folder(monkeypatch):
    import ntpath

    import vit_gui.audit.run as run

    monkeypatch.setattr(run.os, "path", ntpath)  # as on Windows
    assert run.common_folder(["C:\\\\photos\\\\a.jpg", "D:\\\\more\\\\b.jpg"]) == run.Path()
    assert str(run.common_folder(["C:\\\\photos\\\\a.jpg", "C:\\\\photos\\\\b.jpg"])).endswith("photos")


def test_a_single_class_folder_is_said_so_not_silently_dropped(qtbot, tmp_path, tiny_checkpoint, class_folder):
    import shutil
    from types import SimpleNamespace

    from vit_gui.audit.collect import collect, read_folder
    from vit_gui.errors import VitGuiError
    from vit_gui.gui.audit_window import AuditWindow

    one = tmp_path / "one"
    shutil.copytree(class_folder / "cats", one / "cats")
    folder = read_folder(one)
    assert folder.classes == [] and folder.notes[0].startswith("only one class folder (cats)")
    backbone = SimpleNamespace(info=SimpleNamespace(architecture=SimpleNamespace(is_backbone=True), labels=()))
    with pytest.raises(VitGuiError, match="two or more class folders, one a class; the folder chosen holds only one"):
        collect(backbone, folder)
    check = AuditWindow(one, str(tiny_checkpoint))  # a model with classes: grouped by its answers, and it says so
    qtbot.addWidget(check)
    check.run()
    outcome = finished(qtbot, check)
    assert outcome.report["notes"] == folder.notes and "Only one class folder (cats)" in check.summary.text()
    check.done(0)

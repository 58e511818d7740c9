"""The Compare window's worker on a real QThread: the same agreement rows as `vit-gui compare`,
one photo's two predictions with their maps, a gradient map per side, Cancel between batches,
and failures as signals (the two models are tests/test_compare.py's known disagreement)."""

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QObject, Qt, Signal
from test_compare import swapped  # noqa: F401 - the fixture: model B is A with two classes swapped

from vit_gui.explain.maps import MapSpec

TIMEOUT = 60_000


class Requests(QObject):
    """The window's side: signals queued to the worker on its thread."""

    load = Signal(str, str, str, str)
    run = Signal(object, str)
    show = Signal(str)
    gradient_map = Signal(str, str, object)


class Answers(QObject):
    """The worker's signals relayed to the GUI thread (queued), as the window's slots get them."""

    loaded = Signal(object, object)
    load_failed = Signal(str)
    compared = Signal(object)
    progress = Signal(int, int)
    finished = Signal(bool)
    shown = Signal(str, object, object, object)
    show_failed = Signal(str, str)
    gradient_map_ready = Signal(str, str, object, object, str)


@pytest.fixture
def worker(qtbot, tiny_checkpoint, swapped):  # noqa: F811
    """A loaded CompareWorker on its own thread, the requests connected as the window would."""
    from vit_gui.gui.compare_worker import CompareWorker
    from vit_gui.gui.threads import start_worker_thread, stop_worker_thread

    worker, requests, answers = CompareWorker(), Requests(), Answers()
    thread = start_worker_thread(None, worker)
    for name in ("load", "run", "show", "gradient_map"):
        getattr(requests, name).connect(getattr(worker, name))
    for name in ("loaded", "load_failed", "compared", "progress", "finished", "shown", "show_failed",
                 "gradient_map_ready"):
        getattr(worker, name).connect(getattr(answers, name))
    try:
        with qtbot.waitSignal(answers.loaded, timeout=TIMEOUT) as loaded:
            requests.load.emit(str(tiny_checkpoint), str(swapped[1]), "cpu", "float32")
        yield worker, requests, answers, loaded.args
    finally:  # a QThread destroyed while running aborts
        stop_worker_thread(thread)


def collect(qtbot, worker, requests, answers, paths):
    """Every batch's rows, the progress reports and the finished flag of one run."""
    batches, progress = [], []
    answers.compared.connect(batches.append)
    answers.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(answers.finished, timeout=TIMEOUT) as finished:
        worker.rearm()  # as the window does, from the GUI thread, before each run
        requests.run.emit(paths, "rollout")
    answers.compared.disconnect()
    answers.progress.disconnect()
    return batches, progress, finished.args[0]


def test_load_gives_both_models_and_a_failure_names_the_model(qtbot, worker, tmp_path, tiny_checkpoint):
    worker, requests, answers, (info_a, info_b) = worker
    assert (info_a.name, info_b.name) == ("tiny", "swapped")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a model")
    with qtbot.waitSignal(answers.load_failed, timeout=TIMEOUT) as failed:
        requests.load.emit(str(tiny_checkpoint), str(broken), "cpu", "float32")
    assert failed.args[0].startswith("model B (") and str(broken) in failed.args[0]
    assert worker.models["b"].info.name == "swapped"  # the pair already loaded stays


def test_run_gives_the_rows_of_vit_gui_compare(qtbot, worker, tiny_checkpoint, swapped):  # noqa: F811
    from vit_gui.cli.compare import compare_photos
    from vit_gui.predict import Predictor

    worker, requests, answers, _ = worker
    folder, b, changed = swapped
    (folder / "broken.jpg").write_bytes(b"not a photo")
    paths = [str(p) for p in sorted(folder.iterdir())]  # broken.jpg among the photos
    paths = paths * 2 + paths[:1]  # 11 photos: two batches
    batches, progress, cancelled = collect(qtbot, worker, requests, answers, paths)
    rows = [row for batch in batches for row in batch]
    expected = compare_photos(Predictor.from_file(tiny_checkpoint), Predictor.from_file(b), [Path(p) for p in paths])
    assert rows == expected and [len(batch) for batch in batches] == [8, 3] and cancelled is False
    assert [r.path for r in rows] == paths
    [broken] = {r.path: r for r in rows if r.error}.values()
    assert broken.path.endswith("broken.jpg") and broken.top_a is None
    assert {Path(r.path).stem for r in rows if r.top_agree is False} == changed
    assert progress == [(8, 11), (11, 11)]


def test_show_gives_both_predictions_with_attentions(qtbot, worker, tmp_path, photos):
    worker, requests, answers, _ = worker
    big = tmp_path / "big.png"
    Image.fromarray(photos["chelsea"]).resize((2000, 1330)).save(big)
    with qtbot.waitSignal(answers.shown, timeout=TIMEOUT) as shown:
        requests.show.emit(str(big))
    path, display, a, b = shown.args
    assert path == str(big) and display.size == (1600, 1064)
    assert len(a.top) == len(b.top) == 5 and a.top[0].label != b.top[0].label  # chelsea is a swapped photo
    for prediction in (a, b):
        assert prediction.map(MapSpec("rollout")).shape == prediction.grid == (14, 14)
    with qtbot.waitSignal(answers.show_failed, timeout=TIMEOUT) as failed:
        requests.show.emit(str(tmp_path / "missing.jpg"))
    assert failed.args[0].endswith("missing.jpg") and failed.args[1]


def test_gradient_map_of_each_side(qtbot, worker, swapped):  # noqa: F811
    worker, requests, answers, _ = worker
    photo = str(swapped[0] / "chelsea.png")
    spec = MapSpec("class", class_index=3)
    with qtbot.waitSignal(answers.gradient_map_ready, timeout=TIMEOUT) as ready:
        requests.gradient_map.emit(photo, "b", spec)
    path, side, got, grid_map, error = ready.args
    assert (path, side, got, error) == (photo, "b", spec, "") and grid_map.shape == (14, 14)
    with qtbot.waitSignal(answers.gradient_map_ready, timeout=TIMEOUT) as ready:
        requests.gradient_map.emit(photo, "c", spec)
    assert ready.args[3] is None and "side" in ready.args[4]


def test_cancel_stops_the_run_between_batches(qtbot, worker, swapped):  # noqa: F811
    worker, requests, answers, _ = worker
    paths = [str(p) for p in sorted(swapped[0].iterdir())] * 5  # 20 photos: three batches
    # cancelled as the first batch leaves the worker (on its thread, so the timing is certain)
    worker.compared.connect(lambda _rows: worker.cancel(), Qt.ConnectionType.DirectConnection)
    batches, progress, cancelled = collect(qtbot, worker, requests, answers, paths)
    assert cancelled is True and [len(batch) for batch in batches] == [8] and progress == [(8, 20)]
    batches, _, cancelled = collect(qtbot, worker, requests, answers, paths[:3])  # a new run, rearmed, goes to its end
    assert cancelled is False and len(batches[0]) == 3


def test_a_photo_opened_during_a_run_is_shown_before_the_run_ends(qtbot, worker, swapped):  # noqa: F811
    """The run goes a batch per turn of the worker's loop: the photo the user clicks is
    answered between batches (it waited for the whole folder before: a red-team's finding)."""
    worker, requests, answers, _ = worker
    folder = swapped[0]
    paths = [str(p) for p in sorted(folder.iterdir())] * 5  # 20 photos: three batches
    order = []
    answers.shown.connect(lambda *_: order.append("shown"))
    answers.compared.connect(lambda rows: order.append("batch"))
    worker.rearm()
    with qtbot.waitSignal(answers.finished, timeout=TIMEOUT):
        requests.run.emit(paths, "rollout")
        requests.show.emit(paths[0])
    assert "shown" in order and order.index("shown") < len(order) - 1 and order.count("batch") == 3


def test_a_folder_is_walked_on_the_worker_and_what_it_cannot_read_is_listed(qtbot, worker, swapped):  # noqa: F811
    """The window hands the folder over (walking 100,000 photos held its thread); a file the
    app cannot read (an SVG here) gets a row with the reason instead of vanishing."""
    worker, requests, answers, _ = worker
    folder = swapped[0]
    (folder / "drawing.svg").write_text("<svg/>")
    batches, _, cancelled = collect(qtbot, worker, requests, answers, [str(folder)])
    rows = [row for batch in batches for row in batch]
    photos = sorted(str(p) for p in folder.iterdir() if p.suffix == ".png")
    assert cancelled is False and sorted(r.path for r in rows if not r.error) == photos
    [svg] = [r for r in rows if r.error]
    assert svg.path.endswith("drawing.svg") and "SVG" in svg.error

"""`vit-gui classify PHOTOS --cluster ray[...]`: the same classification on a Ray cluster.

For a folder too big for one machine, where the user already runs Ray: the photos still to
do (after --shard and --resume, worked out by classify exactly as for a local run) become a
Ray Dataset, run by an actor on the head node; `map_batches` classifies them batch by batch
on the workers (an actor per worker loads the model once, reading the model file by its
path), and each photo's record comes back to this process, which writes it through the
same output as a local run: JSON Lines / CSV streamed, -o replaced only by a complete run,
Ctrl+C keeping what finished.

A worker that dies makes Ray retry its work, or fail the dataset: either way a photo's
record is written once (records are kept by photo), and whatever did not come back is sent
again, up to ATTEMPTS times, before the run stops as an interrupted one (--resume adds the
rest). Ray is an optional extra (`pip install vit-gui[cluster]`), never in the frozen app,
and imported only here, only when --cluster is given.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import socket
from pathlib import Path
from types import SimpleNamespace

from vit_gui.cli.common import say
from vit_gui.cli.output import OutputFailed
from vit_gui.cli.signals import ctrl_c_waits

#: dataset runs per command: the first, then again for photos lost with a worker
ATTEMPTS = 3
#: where the dataset runs: the head node (its actor needs no CPU)
ON_HEAD = {"node:__internal_head__": 0.001}
#: the most blocks a dataset is cut into (a block is what Ray retries as one)
MAX_BLOCKS = 10_000
#: options a cluster run refuses: their files would be written on the workers' disks, or
#: their minutes-per-photo checks are not what a cluster run is for (run them locally)
REFUSED = {"maps": "--maps", "faithfulness": "--faithfulness", "sanity": "--sanity"}


class ClusterFailed(OutputFailed):
    """The cluster kept losing work: the run stops as when -o is full, what came back kept."""


def parse_cluster(value: str) -> tuple[str, str | None]:
    """`--cluster` -> (what it is in words, the address for ray.init); ValueError otherwise.
    ray: start (or, with RAY_ADDRESS set, join) a Ray on this machine; ray:auto: the cluster
    this machine is a node of; ray:HOST:PORT: a cluster's head (its GCS port, from a cluster
    node); ray://HOST:PORT: Ray Client, from anywhere that reaches the head."""
    if value == "ray":
        return "a Ray on this machine", None
    if value == "ray:auto":
        return "the Ray cluster this machine belongs to", "auto"
    for prefix in ("ray://", "ray:"):
        if value.startswith(prefix) and _host_port(value[len(prefix):]):
            address = value if prefix == "ray://" else value[len(prefix):]
            return f"the Ray cluster at {value[len(prefix):]}", address
    raise ValueError(f"--cluster must be ray, ray:auto, ray:HOST:PORT or ray://HOST:PORT, got {value!r}")


def _host_port(text: str) -> tuple[str, int] | None:
    host, _, port = text.rpartition(":")
    return (host.strip("[]"), int(port)) if host and port.isdigit() else None


def refused(args) -> str | None:
    """Why these options cannot run on a cluster (None when they can): said before any
    model or cluster is touched, rather than silently ignored."""
    given = [flag for name, flag in REFUSED.items() if getattr(args, name, None)]
    if given:
        return (f"{', '.join(given)} cannot be used with --cluster (map files would be written on the workers' "
                "disks, and the checks take minutes a photo): run them without --cluster, or split the folder "
                "with --shard")
    return None


class RayRun:
    """A connection to a Ray cluster for one command: connect() checks the model loads there,
    records() yields each photo's record once, close() disconnects."""

    def __init__(self, args, model_path: Path, classify_all):
        """`classify_all`: the local run's per-batch code (classify.classify_all), handed in so
        this module never imports classify, which imports it."""
        self.args, self.model, self.classify_all = args, os.path.abspath(model_path), classify_all
        self.precision = args.precision
        self.ray = None
        self._batches_running = None  # the batches being read, closed by close() if a run is interrupted

    def connect(self) -> bool:
        """Join the cluster and load the model once on it (its warnings said here, --precision
        auto settled there for every worker); False after saying why it cannot run."""
        try:
            import ray
        except ImportError:
            say("error: --cluster needs Ray, an optional part of vit-gui: pip install 'vit-gui[cluster]' (on this "
                "machine and every node of the cluster)")
            return False
        words, address = parse_cluster(self.args.cluster)
        target = _host_port(address[len("ray://"):] if address and address.startswith("ray://") else address or "")
        if target and not _answers(*target):
            say(f"error: nothing answers at {target[0]}:{target[1]} ({self.args.cluster}): is the cluster's head "
                "running (`ray start --head` on it), and is the port open from here?")
            return False
        say(f"connecting to {words}")
        self.ray = ray  # from here on close() disconnects, also after a Ctrl+C during ray.init
        for attempt in (1, 2):  # a head's Ray Client server that starts slowly may refuse the first try
            try:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
                break
            except Exception as exc:  # noqa: BLE001 - Ray's own errors are many; each ends the command the same way
                ray.shutdown()  # a half-made connection must not stay behind
                if attempt == 2:
                    say(f"error: could not connect to {words} ({type(exc).__name__}: {exc})")
                    return False
        try:
            ray.get(ray.remote(num_cpus=0, resources=ON_HEAD)(_head_check).remote())
        except Exception as exc:  # noqa: BLE001
            say(f"error: the cluster's head node cannot run vit-gui ({_last_line(exc)}); install the same vit-gui "
                "there as on every node: pip install 'vit-gui[cluster]'")
            return False
        try:
            check = ray.remote(num_cpus=0, num_gpus=_gpus(self.args.device))(_model_check)
            ok, said = ray.get(check.remote(self.model, self.args.device, self.precision))
        except Exception as exc:  # noqa: BLE001
            ok, said = False, [f"the model could not be loaded on the cluster ({type(exc).__name__}: {exc})"]
        for line in said[1:] if ok else said:
            say(("" if ok else "error: ") + line)
        if ok:
            self.precision = said[0]
            say(f"the cluster runs it in {self.precision} (every worker the same)")
        return ok

    def records(self, paths: list[Path]):
        """Each photo's ImageRecord, in the order they come back, each photo exactly once;
        photos a dead worker took with it are sent again (ClusterFailed after ATTEMPTS)."""
        wanted = {i: p for i, p in enumerate(paths)}
        for attempt in range(1, ATTEMPTS + 1):
            if not wanted:
                return
            items = [{"i": i, "open": os.fsencode(os.path.abspath(p))} for i, p in wanted.items()]
            try:
                self._batches_running = self._batches(items)
                for batch in self._batches_running:
                    for index, blob in zip(batch["i"], batch["record"]):
                        path = wanted.pop(int(index), None)
                        if path is None:
                            continue  # already written: a retried batch's second answer
                        record = pickle.loads(blob)
                        record.source = str(path)  # as a local run writes it (the worker opened it absolute)
                        yield record
            except Exception as exc:  # noqa: BLE001 - a dead worker or node, a lost block: send the rest again
                if not wanted:
                    return
                if attempt == ATTEMPTS:
                    say(f"error: the cluster lost work {ATTEMPTS} times ({type(exc).__name__}: {exc}): stopped; "
                        f"the photos that came back are written, {len(wanted)} did not. Run the same command "
                        "with --resume to add the rest")
                    raise ClusterFailed from exc
                say(f"note: the cluster lost work ({type(exc).__name__}); sending the {len(wanted)} photos not "
                    "back yet again")

    def _batches(self, items: list[dict]):
        """The classified batches as they finish, from an actor on the head node that runs the
        dataset (Ray Data cannot run one from a Ray Client). Never run here: Ray Data's
        threads in this process outlive an interrupted iteration, and one that touches Ray
        after close() disconnects can end the whole process (exit code 1)."""
        settings = dict(model=self.model, device=self.args.device, precision=self.precision,
                        top_k=self.args.top_k, batch_size=self.args.batch_size, classify_all=self.classify_all)
        feeder = self.ray.remote(num_cpus=0, resources=ON_HEAD)(Feeder).remote(items, settings)
        try:
            asked = feeder.next.remote()
            while (batch := self.ray.get(asked)) is not None:
                asked = feeder.next.remote()  # asked before this batch is written: a slow link's round trip is hidden
                yield batch
        finally:
            self.ray.kill(feeder)

    def close(self) -> None:
        """Stop what still runs for this command (an interrupted run's feeder), then disconnect.
        The results are written by now: a Ctrl+C meanwhile waits for it, a second one stops
        at once and leaves Ray to clean up by itself."""
        try:
            with ctrl_c_waits("leaving the cluster"):
                self._leave()
        except KeyboardInterrupt:
            say("stopped before the cluster was left; the results are written, Ray ends what is left of this run")

    def _leave(self) -> None:
        running, self._batches_running = self._batches_running, None
        if running is not None:
            try:
                running.close()  # its finally kills the feeder
            except Exception:  # noqa: BLE001 - a cluster already gone must not keep this process connected
                pass
        ray, self.ray = self.ray, None
        if ray is not None:
            ray.shutdown()


def _dataset(items: list[dict], settings: dict):
    """The photos as a Dataset, classified by one actor per worker slot (CPU, or GPU for cuda)."""
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    batch = settings["batch_size"]
    blocks = max(1, min(math.ceil(len(items) / batch), MAX_BLOCKS))
    gpus = _gpus(settings["device"])
    slots = int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1))
    return ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        Classifier, batch_size=batch, batch_format="numpy", num_cpus=0 if gpus else 1, num_gpus=gpus,
        concurrency=(1, max(1, min(slots, blocks))),
        fn_constructor_kwargs={k: settings[k] for k in ("model", "device", "precision", "top_k", "classify_all")})


class Feeder:
    """On the head node: runs the dataset, a batch per next() call (None at the end); its
    process, Ray Data's threads with it, goes when the run ends."""

    def __init__(self, items: list[dict], settings: dict):
        self.batches = iter(_dataset(items, settings).iter_batches(batch_size=None, batch_format="numpy"))

    def next(self) -> dict | None:
        return next(self.batches, None)


def _gpus(device: str) -> int:
    return 1 if str(device).startswith("cuda") else 0


def _answers(host: str, port: int) -> bool:
    """Whether anything listens there: Ray itself would retry a wrong address for a minute."""
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def _last_line(exc: Exception) -> str:
    """What a remote failure comes down to: Ray's errors carry the remote traceback, in
    colour; its last line says what went wrong."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def _head_check() -> None:
    """On the head node: nothing, if vit-gui imports there (this function is sent by name),
    as the actor that runs the dataset must."""


def _model_check(model: str, device: str, precision: str | None) -> tuple[bool, list[str]]:
    """On a worker: (True, [precision, warnings…]) when the model loads there, else (False,
    [why]). Also settles --precision auto once, so every worker runs the same format."""
    from vit_gui.errors import VitGuiError
    from vit_gui.predict import Predictor

    try:
        predictor = Predictor.from_file(Path(model), device, precision)
    except (VitGuiError, ValueError) as exc:
        return False, [f"on the cluster: {exc}"]
    except Exception as exc:  # noqa: BLE001 - a model file must never end the command with a traceback
        return False, [f"the model could not be loaded on the cluster ({type(exc).__name__}: {exc})"]
    return True, [predictor.precision.name] + [f"warning: {w}" for w in predictor.info.warnings]


class Classifier:
    """The map_batches callable: the model loaded once per actor, each batch classified by
    the local run's own code (errors beside each photo), records sent back pickled."""

    def __init__(self, model: str, device: str, precision: str, top_k: int, classify_all):
        from vit_gui.predict import Predictor

        self.predictor = Predictor.from_file(Path(model), device, precision)
        self.top_k, self.classify_all = top_k, classify_all

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        paths = [Path(os.fsdecode(bytes(p))) for p in batch["open"]]
        options = SimpleNamespace(batch_size=max(1, len(paths)), maps=None, top_k=self.top_k, faithfulness=False,
                                  sanity=False, class_index=None)
        blobs = []
        for record in self.classify_all(self.predictor, paths, options, None):
            record.probs = record.prediction = record.display_image = None  # the lines never read them
            blobs.append(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        return {"i": np.asarray(batch["i"]), "record": np.array(blobs, dtype=object)}

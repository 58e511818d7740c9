"""The command line's options: `vit-gui classify`, `teach`, `audit`, `compare` and `models`,
and the map options whose choices come from the map registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from vit_gui import __version__


def join_dashed_values(argv: list[str], options=("--shard",)) -> list[str]:
    """`--shard -1/2` as `--shard=-1/2`: argparse takes a value that starts with '-' for an
    option and answers with its usage; the value then gets our own message."""
    joined, argv = [], list(argv)
    while argv:
        word = argv.pop(0)
        if word in options and argv and argv[0].startswith("-") and argv[0][1:2].isdigit():
            word = f"{word}={argv.pop(0)}"
        joined.append(word)
    return joined


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vit-gui",
        description="Classify images with a Vision Transformer and show where it looked.",
    )
    parser.add_argument("--version", action="version", version=f"vit-gui {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation end to end, offscreen, and exit (0 = all worked)")
    parser.add_argument("--model", dest="self_test_model", type=Path, metavar="FILE",
                        help="with --self-test: the model to test (default: the default model)")
    commands = parser.add_subparsers(dest="command")
    classify = commands.add_parser(
        "classify",
        help="classify images or folders (recursed) and print JSON or CSV",
        description="Classify images; folders are searched recursively for image files.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    classify.add_argument("--model", type=Path, help="checkpoint file (default: the installed default model)")
    classify.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    classify.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16", "int8"),
                          help="number format: auto picks the fastest that agrees with float32 on this device "
                               "(default: the model's own, else float32)")
    classify.add_argument("--engine", choices=("auto", "torch", "openvino"), default="auto",
                          help="what runs the model on a CPU: auto picks OpenVINO where it is installed "
                               "(measured faster), else torch (default: auto)")
    classify.add_argument("--top-k", type=int, default=5, help="classes per image (default: 5)")
    classify.add_argument("--format", choices=("json", "jsonl", "csv"), default="json",
                          help="json: one list, written at the end; jsonl (JSON Lines) and csv: a line per photo "
                               "as it finishes, memory flat for folders of any size (default: json)")
    classify.add_argument("-o", "--output", type=Path, help="write results here instead of stdout")
    classify.add_argument("--force", action="store_true",
                          help="let -o replace a file that is not a results file of vit-gui (never a photo being "
                               "classified or the model in use); the file is replaced only once the run is complete")
    classify.add_argument("--resume", action="store_true",
                          help="with -o and --format jsonl or csv: skip the photos the file already holds and "
                               "add the rest (after a kill, a crash or Ctrl+C)")
    classify.add_argument("--shard", metavar="I/N",
                          help="classify only share I of N (1-based) of the photos, the same share on every machine: "
                               "N runs with 1/N … N/N split a folder between machines or a batch system's jobs")
    classify.add_argument("--cluster", metavar="ray[:auto|:HOST:PORT|://HOST:PORT]",
                          help="classify on a Ray cluster (pip install 'vit-gui[cluster]'): ray starts one here, "
                               "ray:auto joins the cluster this machine is a node of, ray:HOST:PORT its head, "
                               "ray://HOST:PORT through Ray Client. The model file and the photos must be at the "
                               "same paths on every worker; results stream to -o as a local run's (see docs/CLI.md)")
    classify.add_argument("--batch-size", type=int, default=8, help="images per model run (default: 8)")
    maps = _add_map_options(classify)
    maps.add_argument("--faithfulness", action="store_true",
                      help="check the map: deletion and insertion curves of the class's log-odds against up to 19 "
                           "copies of the map moved around the photo (a p-value; faithful when it beats them all) "
                           "and SaCo; a backbone's map is judged by how fast the photo's embedding stops resembling "
                           "itself. Only photo patches count, never letterbox padding")
    maps.add_argument("--removal", choices=("drop", "mean", "blackout"), default="drop",
                      help="with --faithfulness: how patches are removed: drop their tokens (default), fill them "
                           "with the model's mean colour (the normalisation mean), or black out the top pixels as Chefer et al.'s test does")
    maps.add_argument("--sanity", action="store_true",
                      help="test the map: cascading randomisation from the head down to the embeddings (Adebayo "
                           "et al. 2018; a map that stays the same ignores what the model learned) and moving the photo "
                           "by 1-8 pixels (a map that jumps is not stable)")
    maps.add_argument("--colormap", default="inferno", help="matplotlib colormap for overlays")
    maps.add_argument("--opacity", type=float, default=0.5, help="overlay opacity in [0, 1] (default: 0.5)")
    maps.add_argument("--no-legend", dest="legend", action="store_false",
                      help="leave out the colour bar with words under each overlay (less … more attention)")
    teach = commands.add_parser(
        "teach", help="teach new classes: a folder per class becomes a classifier on a frozen ViT",
        description="Teach new classes from a folder with one subfolder per class (or the class folders "
                    "themselves). A linear probe is trained on the frozen model's features (extracted once "
                    "and cached), its weight decay chosen on a validation split; the result is an ordinary "
                    "model file with maps for the new classes. A JSON report goes to stdout.")
    teach.add_argument("data", nargs="+", type=Path, metavar="DATA_DIR")
    teach.add_argument("--model", type=Path, help="the base model (default: the installed default model)")
    teach.add_argument("-o", "--output", type=Path, metavar="OUT",
                       help="where to write the model: a folder, or a .safetensors file name "
                            "(default: the user's models folder, where the app finds it)")
    teach.add_argument("--name", help="the model's name (default: the data folder's name)")
    teach.add_argument("--mode", choices=("probe", "finetune"), default="probe",
                       help="probe: a linear classifier on frozen features (default, seconds); finetune: "
                            "then also train the last --blocks blocks with light augmentation (minutes)")
    teach.add_argument("--feature", choices=("cls", "cls+mean"), default="cls",
                       help="what the classifier reads: the class token (default), or the class token beside "
                            "the mean of the patch tokens (DINOv2's linear evaluation)")
    teach.add_argument("--val-split", type=float, default=0.2, help="share of each class kept for validation")
    teach.add_argument("--val-dir", type=Path, metavar="DIR",
                       help="a separate validation folder (one subfolder per class) instead of a split")
    teach.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (finetune mode; default 5)")
    teach.add_argument("--blocks", type=int, default=2,
                       help="how many of the last blocks fine-tuning trains (finetune mode; default 2)")
    teach.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    teach.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    _add_audit(commands)
    _add_compare(commands)
    models = commands.add_parser("models", help="list the known models, or download one")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    models_commands.add_parser("list", help="catalogue models and the model files present")
    get = models_commands.add_parser("get", help="download, verify and install a catalogue model")
    get.add_argument("name", help="short name (e.g. vit-b16) or timm name")
    get.add_argument("--url", help="download from this mirror instead of the catalogue's source: an http(s):// "
                     "address, or file:///path for a copy on this computer or a shared drive")
    return parser


def _add_audit(commands) -> None:
    audit = commands.add_parser(
        "audit", help="how a model decides each class of a folder: groups of maps, parts, findings in words",
        description="Audit a folder: one subfolder per class (the truth known), or any photos (grouped by the "
                    "model's answer). For each class, its photos grouped by their maps (spectral clustering, as "
                    "SpRAy), the parts its evidence sits on (factorised patch features, as CRAFT) and findings "
                    "that say what was measured (the same spot, one small spot, outside the object), each with "
                    "its photos. A model with classes is read by Grad-CAM (or --map class); a backbone by rollout.")
    audit.add_argument("folder", type=Path, metavar="FOLDER")
    audit.add_argument("--model", type=Path, help="checkpoint file (default: the installed default model)")
    audit.add_argument("--format", choices=("text", "json"), default="text",
                       help="text: the findings in words (default); json: the whole audit")
    audit.add_argument("--report", type=Path, metavar="DIR",
                       help="write DIR/audit.html, a page with the pictures embedded (opens in any browser)")
    audit.add_argument("--map", dest="map_kind", choices=("gradcam", "class"), default="gradcam",
                       help="the map read for a model with classes: Grad-CAM (default) or class evidence; a "
                            "backbone is read by rollout from its own first block")
    audit.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    audit.add_argument("--batch-size", type=int, default=8, help="photos per model run (default: 8)")


# The option that sets each MapSpec parameter: (flag, argparse keywords). Which ones a map
# reads, and the --map choices, come from the registry (explain.maps.METHODS).
MAP_PARAMETER_OPTIONS = {
    "fusion": ("--fusion", dict(choices=("mean", "max", "min"), help="how a block's heads are combined (default: mean)")),
    "discard_ratio": ("--discard", dict(type=float, metavar="R", help="ignore this fraction of the weakest "
                                        "attention links, in [0, 1) (default: 0)")),
    "start_block": ("--from-block", dict(type=int, metavar="B", help="rollout and LeGrad start at block B (1-based; "
                                         "default: the model's own advice, else 1); also --rollout-from")),
    "block": ("--layer", dict(type=int, metavar="L", help="the block (1-based)")),
    "head": ("--head", dict(type=int, metavar="H", help="the head within --layer (1-based)")),
    "class_index": ("--class-index", dict(type=int, metavar="C", help="the class (0-based index)")),
}


def _add_map_options(command):
    import textwrap

    from vit_gui.explain.maps import METHODS

    lines = [textwrap.fill(f"{m.name}: {m.description} (options: "
                           f"{', '.join(MAP_PARAMETER_OPTIONS[p][0] for p in m.parameters)})",
                           width=78, subsequent_indent="    ") for m in METHODS.values()]
    maps = command.add_argument_group("attention maps (written with --maps)", "\n".join(lines))
    maps.add_argument("--maps", type=Path, metavar="DIR", help="write <stem>.<map>.npy and <stem>.<map>.png here")
    maps.add_argument("--map", choices=list(METHODS), dest="map_kind",
                      help="which map (default: rollout; or the one --layer/--head/--class-index imply)")
    for parameter, (flag, keywords) in MAP_PARAMETER_OPTIONS.items():
        aliases = ("--rollout-from",) if parameter == "start_block" else ()  # its name before LeGrad
        maps.add_argument(flag, *aliases, dest=parameter, **keywords)
    return maps


def map_spec_from_args(args, default_start_block: int = 0):
    """The MapSpec the options describe; an option the chosen map does not read is an error,
    not silently ignored."""
    from vit_gui.explain.maps import METHODS, MapSpec

    given = {p for p in MAP_PARAMETER_OPTIONS if getattr(args, p, None) is not None}
    kind = args.map_kind
    if kind is None:  # implied by the options, as before --map existed
        kind = ("class" if "class_index" in given else "head" if "head" in given and "block" in given
                else "block" if "block" in given else "rollout")
    method = METHODS[kind]
    if "head" in given and "block" not in given:
        raise ValueError("--head needs --layer (the block the head belongs to)")
    stray = sorted(given - set(method.parameters))
    if stray:
        flags = ", ".join(MAP_PARAMETER_OPTIONS[p][0] for p in stray)
        reads = ", ".join(MAP_PARAMETER_OPTIONS[p][0] for p in method.parameters) or "no options"
        verb = "does" if len(stray) == 1 else "do"
        raise ValueError(f"{flags} {verb} not apply to the {kind} map (it reads {reads})")
    # a class map without --class-index explains each image's top class (see classify)
    needed = [p for p in ("block", "head") if p in method.parameters and p not in given]
    if needed:
        raise ValueError(f"the {kind} map needs {', '.join(MAP_PARAMETER_OPTIONS[p][0] for p in needed)}")
    one_based = {"block", "head", "start_block"}
    values = {p: getattr(args, p) - 1 if p in one_based else getattr(args, p) for p in given}
    if "start_block" in method.parameters and "start_block" not in given:
        values["start_block"] = default_start_block
    return MapSpec(kind, **values)


def _add_compare(commands) -> None:
    compare = commands.add_parser(
        "compare", help="two models on the same photos: where their top classes and their maps disagree",
        description="Run two models on the same photos. Per photo: each model's top class, whether they agree "
                    "(by class name), and their maps' rank correlation on the photo (each map laid over the photo "
                    "through its own model's crop and patch grid, so any two models compare). Over all photos: "
                    "top-1 agreement (Wilson 95% interval) and mean map agreement (bootstrap 95% interval). "
                    "Photos where they disagree come first.")
    compare.add_argument("model_a", type=Path, metavar="A", help="the first model file")
    compare.add_argument("model_b", type=Path, metavar="B", help="the second model file")
    compare.add_argument("paths", nargs="+", type=Path, metavar="PHOTOS", help="photos or folders")
    compare.add_argument("--map", dest="map_kind", choices=("rollout", "class"), default="rollout",
                         help="the maps compared: rollout from each model's own first block (default), or the "
                              "class evidence for each model's own top class (models with classes)")
    compare.add_argument("--format", choices=("json", "csv"), default="json")
    compare.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")

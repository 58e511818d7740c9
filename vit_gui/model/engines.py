"""Which engine runs a Predictor's forward pass: torch, or OpenVINO on the CPU.

`auto` (what the app and `vit-gui classify` ask for) picks OpenVINO on a CPU where it is
installed: measured faster than torch at every precision (benchmarks/peers.py). VIT_GUI_ENGINE=torch
(or openvino) overrides `auto`, for a user whose CPU OpenVINO mishandles; the test suite sets
it to torch so that its exactness tests compare torch's own numbers. The precision is chosen
as on torch: measured on test photos against torch's float32, features and rollout maps;
`auto` keeps the fastest format that agrees.
"""

from __future__ import annotations

import os

import torch

ENGINES = ("auto", "torch", "openvino")


def resolve_engine(requested: str, device: torch.device) -> tuple[str, str]:
    """(engine, why) for a requested engine on a device; ValueError where it cannot run."""
    from vit_gui.model.openvino_engine import available

    requested = (requested or "torch").lower()
    if requested not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {requested!r}")
    if requested == "auto":
        override = os.environ.get("VIT_GUI_ENGINE", "").strip().lower()
        if override in ("torch", "openvino"):
            return resolve_engine(override, device)[0], f"VIT_GUI_ENGINE={override}"
        if device.type != "cpu":
            return "torch", "torch runs the GPU"
        missing = available()
        return ("torch", missing) if missing else ("openvino", "OpenVINO runs this CPU fastest")
    if requested == "openvino":
        if device.type != "cpu":
            raise ValueError("the OpenVINO engine runs on the CPU only; choose cpu, or the torch engine")
        missing = available()
        if missing:
            raise ValueError(f"the OpenVINO engine was asked for but {missing}: pip install openvino")
    return requested, "chosen by you"


def choose_openvino(predictor, requested: str) -> None:
    """Put `predictor`'s model behind OpenVINO in the requested format; `auto` converts
    float32, bfloat16 (where the CPU has it natively) and int8, and keeps the fastest that
    agrees with torch's float32 on test photos (features and maps) and is faster than
    OpenVINO's float32 by FASTER."""
    from vit_gui.model import precision as fmt
    from vit_gui.model.openvino_engine import OpenVinoViT, inference_precision

    torch_float = predictor.model
    size = tuple(predictor.info.preprocessing.input_size)
    samples = predictor.sample_pixels()
    reference = predictor.float_reference(samples, attentions=True)
    names = [("float32", "exact")] if requested in ("auto", "float32") else []
    if requested != "float32":
        names += fmt.candidates(requested, predictor.device)  # also refuses a format the CPU cannot run
    tried = []
    for name, why in names:
        engine = OpenVinoViT(torch_float, name, size, calibration=samples if name == "int8" else None)
        tried.append((engine, why, predictor.trial(engine, name, reference, dtype=torch.float32, attentions=True)))
    chosen, why, trial = tried[0]
    if requested == "auto":
        float32_seconds = trial.seconds
        for engine, _, candidate in tried[1:]:
            if candidate.agrees() and candidate.seconds <= fmt.FASTER * float32_seconds and candidate.seconds < trial.seconds:
                chosen, trial = engine, candidate
        why = f"auto: the fastest on OpenVINO that agrees ({', '.join(t[2].name for t in tried)} tried)"
    if trial.name == "int8" and inference_precision("int8") == "bf16":
        why += "; the layers int8 leaves unquantised run in bfloat16 (native here)"
    predictor.float_model = torch_float
    predictor.model = chosen
    predictor.precision = fmt.Precision(trial.name, f"{why}; OpenVINO; {trial.words()}", trial.agreement,
                                        engine="openvino")

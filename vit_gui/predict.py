"""Predictor: one loaded model on one device, turning images into top-k classes and maps.

Everything the CLI, the GUI worker and the benchmarks do with a model goes through here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vit_gui.errors import DeviceError, OutOfMemory, VitGuiError
from vit_gui.explain import gradient_maps
from vit_gui.explain.maps import MapSpec, compute_map, extra_token_share
from vit_gui.explain.photo_area import photo_patches
from vit_gui.model.buffer_pool import ATTENTIONS, as_float32
from vit_gui.model.checkpoints import LoadedModel, load_model
from vit_gui.preprocess import Geometry, preprocess
from vit_gui.record import NO_CLASSES_NOTE, TopClass, top_classes  # noqa: F401 - re-exported


@dataclass
class Prediction:
    """One image's result. `top` and `probs` are empty / None for a backbone (no classes).
    `features` is the final-norm class token. `attentions` (blocks, heads, N, N) on the CPU
    when asked for, kept so that any rollout / block / head map can be recomputed without the
    model; `num_prefix` tokens (class, distillation, registers) come before the patches."""

    top: list[TopClass]
    probs: np.ndarray | None
    geometry: Geometry
    grid: tuple[int, int]
    attentions: torch.Tensor | None = None
    num_prefix: int = 1
    features: np.ndarray | None = None
    patch_mean: np.ndarray | None = None  # the mean of the final-norm patch tokens
    photo: np.ndarray | None = None  # (gh, gw) bool: the patches that are photo, not letterbox padding

    def map(self, spec: MapSpec = MapSpec()) -> np.ndarray:
        if self.attentions is None:
            raise ValueError("this prediction was made without attentions")
        return compute_map(self.attentions, self.grid, spec, self.num_prefix, self.photo)

    def extra_token_share(self, spec: MapSpec = MapSpec()) -> float:
        """The share of the class token's attention that went to registers / the distillation token."""
        return extra_token_share(self.attentions, spec, self.num_prefix)


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here, in words a user can act on; None when it can."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return (f"this PyTorch build ({torch.__version__}) has no CUDA support; install a CUDA "
                "build of torch to use the GPU (see docs/MODELS.md)")
    return "no usable NVIDIA GPU was found (is the driver installed?)"


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'cuda:N' -> torch.device, or DeviceError saying why not."""
    name = (name or "cpu").strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        reason = cuda_unavailable_reason()
        if reason:
            raise DeviceError(f"CUDA was requested but {reason}")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{name} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise DeviceError(f"unknown device {name!r}: choose cpu or cuda")


def _stack(out) -> torch.Tensor:
    """Every block's attention, (batch, blocks, heads, N, N): the model's own stack (no copy
    for float32 on the CPU), else one made."""
    return out.attention_stack if out.attention_stack is not None else torch.stack(out.attentions, dim=1)


def is_out_of_memory(exc: BaseException) -> bool:
    """torch reports exhausted GPU or CPU memory as these (CPU: a RuntimeError saying so)."""
    if isinstance(exc, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class Predictor:
    """A model in eval mode on a device, with its preprocessing and class names.

    A batch that runs out of memory is split in halves and retried; the batch size that
    worked is remembered for later batches, and `notices` says so for the user.
    """

    def __init__(self, loaded: LoadedModel, device: str = "cpu", precision: str = "float32", engine: str = "torch"):
        """`engine`: "torch", "openvino" (the CPU only) or "auto" (model/engines.py)."""
        from vit_gui.model.engines import resolve_engine
        from vit_gui.model.precision import Precision

        self.device = resolve_device(device)
        self.engine, self.engine_reason = resolve_engine(engine, self.device)
        self.info = loaded.info
        self.model = loaded.model.eval().requires_grad_(False).to(self.device)
        self.max_batch: int | None = None
        self.notices: list[str] = []
        self.float_model: torch.nn.Module | None = None  # kept when int8 runs: gradients cannot pass int8 layers
        self.precision = Precision("float32", "the numbers the model was trained with")
        if self.engine == "openvino":
            self._on_openvino(precision, fall_back=engine == "auto")
        if self.engine == "torch" and precision != "float32":
            self._choose_precision(precision)
        ATTENTIONS.clear()  # the precision trials' attentions: a window that runs nothing keeps none

    def _on_openvino(self, precision: str, fall_back: bool) -> None:
        """The model behind OpenVINO; where it cannot be converted, torch runs it (`auto`,
        saying why in `notices`) or the load fails with the reason."""
        from vit_gui.model.engines import choose_openvino

        try:
            choose_openvino(self, precision)
        except (ValueError, DeviceError):
            raise  # a format this device cannot run: the user's choice to change
        except Exception as exc:  # noqa: BLE001 - OpenVINO's conversion errors have no common type
            if not fall_back:
                raise VitGuiError(f"OpenVINO could not run this model ({exc.__class__.__name__}: {exc})") from exc
            self.engine, self.engine_reason = "torch", f"OpenVINO could not run this model ({exc.__class__.__name__})"
            self.notices.append(f"{self.engine_reason}: torch runs it")

    @classmethod
    def from_file(cls, path: Path | str, device: str = "cpu", precision: str | None = "float32",
                  engine: str = "torch") -> Predictor:
        """`precision` None: the model's own (its sidecar's `precision`, else float32)."""
        resolve_device(device)  # fail fast, before reading a large file
        loaded = load_model(path)
        return cls(loaded, device, precision or loaded.info.precision, engine)

    def _choose_precision(self, requested: str) -> None:
        """Convert the model, measuring its agreement with float32 (features and rollout maps)
        on test photos and its speed on a test batch; `auto` keeps float32 when a format
        falls short, and says why."""
        from vit_gui.model import precision as fmt

        refused, samples = [], self.sample_pixels()
        reference = self.float_reference(samples)
        for name, why in fmt.candidates(requested, self.device):
            calibration = samples if name == "int8" else None
            converted = fmt.convert(self.model if name == "int8" else copy.deepcopy(self.model), name, calibration)
            trial = self.trial(converted, name, reference)
            refusal = trial.refusal() if requested == "auto" else None
            if refusal is None:
                if name == "int8":
                    self.float_model = self.model
                self.model, self.precision = converted, fmt.Precision(name, f"{why}; {trial.words()}", trial.agreement)
                return
            refused.append(refusal)
        self.precision = fmt.Precision("float32", "auto: " + "; ".join(refused) + ", so float32 runs")

    def sample_pixels(self) -> torch.Tensor:
        """The app's sample photos (int8 measures its scales on them), else the test image."""
        from vit_gui.model.int8 import calibration_pixels

        try:
            return calibration_pixels(lambda images: self.prepare(images)[0])
        except (OSError, ValueError):
            return self.check_pixels()

    def float_reference(self, samples: torch.Tensor, attentions: bool = False):
        """float32 (the model as loaded) on the test batch, timed (with the attentions kept,
        when `attentions`: what the app runs), and on the sample photos: once for every format
        tried."""
        from vit_gui.model import precision as fmt

        check = self.check_pixels()
        _, seconds = fmt.timed_features(self.model, check, attentions=attentions)
        photos = torch.cat([samples, check[:1]])
        with torch.inference_mode():
            out = self.model(photos, return_attention=True)
        grid, prefix = self.model.grid_for(*photos.shape[-2:]), self.model.num_prefix_tokens
        maps = [compute_map(b, grid, MapSpec(), prefix) for b in _stack(out)]
        return fmt.FloatReference(check, photos, seconds, out.features, maps)

    def trial(self, converted, name: str, reference, dtype: torch.dtype | None = None, attentions: bool = False):
        """How `converted` compares with float32 (`reference`, from float_reference): features
        and rollout maps on the sample photos and the test image, time on the test batch."""
        from vit_gui.model import precision as fmt

        dtype = dtype or fmt.DTYPES.get(name, torch.float32)
        _, seconds = fmt.timed_features(converted, reference.check.to(dtype), attentions=attentions)
        with torch.inference_mode():
            ours = converted(reference.photos.to(dtype), return_attention=True)
        grid, prefix = self.model.grid_for(*reference.photos.shape[-2:]), self.model.num_prefix_tokens
        differences = [np.abs(compute_map(a.float(), grid, MapSpec(), prefix) - b).max()
                       for a, b in zip(_stack(ours), reference.maps)]
        return fmt.Trial(name, fmt.cosine(ours.features, reference.features), float(max(differences)), seconds,
                         reference.seconds)

    @property
    def torch_model(self) -> torch.nn.Module:
        """The torch module that runs this precision (the float32 one behind OpenVINO): for
        what OpenVINO's graph does not do, such as the check's token drop, done consistently."""
        return getattr(self.model, "torch_model", self.model)

    @property
    def gradient_model(self) -> torch.nn.Module:
        """The model that gradients can pass: the float32 one when int8 runs."""
        return self.float_model if self.float_model is not None else self.model

    def check_pixels(self) -> torch.Tensor:
        """A fixed, photo-like test input: smooth colour blobs, the model's own size."""
        rng = np.random.default_rng(0)
        small = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
        size = self.info.preprocessing.input_size
        image = Image.fromarray(small).resize((size[1], size[0]), Image.Resampling.BICUBIC)
        return self.prepare([image] * 4)[0]

    def prepare(self, images: Sequence[Image.Image]) -> tuple[torch.Tensor, list[Geometry]]:
        """Preprocess a batch of RGB images into one input tensor on the device, in the
        format the model runs in."""
        tensors, geometries = zip(*(preprocess(image, self.info.preprocessing) for image in images))
        return torch.stack(tensors).to(self.device, self.precision.dtype), list(geometries)

    def predict(self, images: Sequence[Image.Image], top_k: int = 5, with_attentions: bool = False) -> list[Prediction]:
        """Top-k classes for each image; with_attentions keeps every block's attention."""
        images = list(images)
        if self.max_batch and len(images) > self.max_batch:
            return [p for i in range(0, len(images), self.max_batch)
                    for p in self.predict(images[i : i + self.max_batch], top_k, with_attentions)]
        try:
            return self._predict(images, top_k, with_attentions)
        except Exception as exc:  # noqa: BLE001 - only memory exhaustion is handled here
            if not is_out_of_memory(exc):
                raise
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if len(images) == 1:
            raise OutOfMemory(f"not enough memory on {self.device.type.upper()} to classify this image")
        self.max_batch = max(1, len(images) // 2)
        self.notices.append(f"ran out of memory with a batch of {len(images)} images on "
                            f"{self.device.type.upper()}: continuing with batches of {self.max_batch}")
        return self.predict(images, top_k, with_attentions)

    def _predict(self, images: list[Image.Image], top_k: int, with_attentions: bool) -> list[Prediction]:
        if not images:
            return []
        pixels, geometries = self.prepare(images)
        with torch.inference_mode():
            out = self.model(pixels, return_attention=with_attentions)
            answer = out.features if out.logits is None else out.logits
            if not torch.isfinite(answer).all():
                raise VitGuiError("the model's output is not a number (NaN or infinite) for this image; "
                                  "the model or its preprocessing is broken")
            probs = None if out.logits is None else torch.softmax(out.logits.float(), dim=-1).cpu()
            features = out.features.float().cpu().numpy()
            patch_mean = out.patch_mean.float().cpu().numpy()
            attentions = None
            if with_attentions:  # the model's own stack: no copy for float32 on the CPU
                attentions = as_float32(_stack(out))
        grid = self.model.grid_for(*pixels.shape[-2:])
        patch = self.model.patch_size
        return [
            Prediction(
                top=top_classes(probs[b].numpy(), top_k, self.info) if probs is not None else [],
                probs=None if probs is None else probs[b].numpy(),
                geometry=geometries[b],
                grid=grid,
                attentions=None if attentions is None else attentions[b],
                num_prefix=self.model.num_prefix_tokens,
                features=features[b],
                patch_mean=patch_mean[b],
                photo=photo_patches(geometries[b], grid, patch),
            )
            for b in range(len(images))
        ]

    def _gradients_possible(self) -> None:
        if self.info.architecture.is_backbone:
            raise ValueError("this model has no classes yet, so it has no class-specific map")

    def class_attention_grads(self, image: Image.Image, class_index: int) -> tuple[torch.Tensor, torch.Tensor, Geometry]:
        """(attentions, d logit_c / d attentions), each (blocks, heads, N, N), for one image."""
        self._gradients_possible()
        if not 0 <= class_index < self.info.architecture.num_classes:
            raise ValueError(f"class index must be 0..{self.info.architecture.num_classes - 1}, got {class_index}")
        pixels, (geometry,) = self.prepare([image])
        attn, grad = gradient_maps.attention_grads(self.gradient_model, pixels, class_index)
        return attn, grad, geometry

    def gradient_map(self, image: Image.Image, spec: MapSpec) -> tuple[np.ndarray, Geometry]:
        """A map that needs gradients (class evidence, Grad-CAM, LeGrad) for `spec.class_index`,
        on the patch grid, in [0, 1] over the photo."""
        self._gradients_possible()
        pixels, (geometry,) = self.prepare([image])
        grid = self.model.grid_for(*pixels.shape[-2:])
        photo = photo_patches(geometry, grid, self.model.patch_size)
        grid_map = gradient_maps.gradient_map(self.gradient_model, pixels, spec.kind, spec.class_index, photo, spec.start_block)
        return grid_map, geometry

    def class_map(self, image: Image.Image, class_index: int) -> tuple[np.ndarray, Geometry]:
        """The class-specific relevance map (Chefer et al. 2021) on the patch grid, in [0, 1]."""
        return self.gradient_map(image, MapSpec("class", class_index=class_index))

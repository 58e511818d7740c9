"""The models the app knows: a catalogue of public pretrained ViTs, and the files present.

Discovery looks in three places: `model_data/` shipped with the app, the user's data folder
(where "Get models…" installs), and files the user added by hand. The default is the best
model present, by its ImageNet top-1 accuracy as recorded in its sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vit_gui.errors import NoModelError
from vit_gui.resources import model_data_dir, resource_path, user_data_dir

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INCEPTION_MEAN, INCEPTION_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class KnownModel:
    """A public pretrained ViT classifier: where to get it and what it is.

    Preprocessing facts are those of timm's pretrained config for the weights.
    `approx_bytes` is the float32 parameter size (the file adds a small header);
    `sha256` is recorded only where it has been verified against the published file.
    """

    name: str
    title: str
    timm_name: str
    url: str
    license: str
    depth: int
    embed_dim: int
    num_heads: int
    patch_size: int
    params: int
    imagenet_top1: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 0.9
    input_size: int = 224
    interpolation: str = "bicubic"
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.timm_name}.safetensors"

    @property
    def approx_bytes(self) -> int:
        return self.params * 4

    @property
    def architecture_name(self) -> str:
        size = {192: "Ti", 384: "S", 768: "B"}[self.embed_dim]
        return f"ViT-{size}/{self.patch_size}"

    def sidecar(self) -> dict:
        """The sidecar JSON installed beside the downloaded weights."""
        return {
            "name": self.title,
            "catalog_name": self.name,
            "architecture": self.architecture_name,
            "num_heads": self.num_heads,
            "input_size": [3, self.input_size, self.input_size],
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
            "resize_mode": "crop",
            "labels": list(imagenet_labels()),
            "imagenet_top1": self.imagenet_top1,
            "source": self.url,
            "license": self.license,
            "sha256": self.sha256,
        }


def _hub_url(timm_name: str) -> str:
    return f"https://huggingface.co/timm/{timm_name}/resolve/main/model.safetensors"


CATALOG: tuple[KnownModel, ...] = (
    KnownModel(
        name="vit-b16", title="ViT-B/16 (AugReg2, ImageNet-21k → 1k)",
        timm_name="vit_base_patch16_224.augreg2_in21k_ft_in1k",
        url=_hub_url("vit_base_patch16_224.augreg2_in21k_ft_in1k"), license="Apache-2.0",
        depth=12, embed_dim=768, num_heads=12, patch_size=16, params=86_567_656,
        imagenet_top1=85.1, mean=INCEPTION_MEAN, std=INCEPTION_STD,
    ),
    KnownModel(
        name="vit-s16", title="ViT-S/16 (AugReg, ImageNet-21k → 1k)",
        timm_name="vit_small_patch16_224.augreg_in21k_ft_in1k",
        url=_hub_url("vit_small_patch16_224.augreg_in21k_ft_in1k"), license="Apache-2.0",
        depth=12, embed_dim=384, num_heads=6, patch_size=16, params=22_050_664,
        imagenet_top1=81.4, mean=INCEPTION_MEAN, std=INCEPTION_STD,
    ),
    KnownModel(
        name="deit-s16", title="DeiT-Small/16 (ImageNet-1k)",
        timm_name="deit_small_patch16_224.fb_in1k",
        url=_hub_url("deit_small_patch16_224.fb_in1k"), license="Apache-2.0",
        depth=12, embed_dim=384, num_heads=6, patch_size=16, params=22_050_664,
        imagenet_top1=79.9, mean=IMAGENET_MEAN, std=IMAGENET_STD,
    ),
    KnownModel(
        name="deit-ti16", title="DeiT-Tiny/16 (ImageNet-1k)",
        timm_name="deit_tiny_patch16_224.fb_in1k",
        url=_hub_url("deit_tiny_patch16_224.fb_in1k"), license="Apache-2.0",
        depth=12, embed_dim=192, num_heads=3, patch_size=16, params=5_717_416,
        imagenet_top1=72.2, mean=IMAGENET_MEAN, std=IMAGENET_STD,
    ),
)


def known_model(name: str) -> KnownModel:
    """Look a catalogue entry up by its short name or its timm name."""
    for model in CATALOG:
        if name in (model.name, model.timm_name):
            return model
    names = ", ".join(m.name for m in CATALOG)
    raise KeyError(f"unknown model {name!r}; known models: {names}")


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in index order (resources/imagenet_classes.txt)."""
    text = resource_path("imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())


# --------------------------------------------------------------------------- where models live


def user_models_dir() -> Path:
    return user_data_dir() / "models"


@dataclass(frozen=True)
class ModelEntry:
    """A model file that is present, with what its sidecar says (weights not read)."""

    path: Path
    name: str
    origin: str  # "built-in", "downloaded" or "added"
    imagenet_top1: float | None = None


def _entry(path: Path, origin: str) -> ModelEntry:
    from vit_gui.errors import ModelConfigError
    from vit_gui.model.config import read_sidecar

    try:
        sidecar = read_sidecar(path)
    except ModelConfigError:
        sidecar = {}  # a broken sidecar is reported when the model is loaded
    value = sidecar.get("imagenet_top1")
    top1 = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return ModelEntry(path, str(sidecar.get("name") or path.stem), origin, top1)


def find_model_files(folder: Path | None = None) -> list[Path]:
    """Checkpoint files directly inside `folder` (default: the app's model_data/), sorted."""
    folder = folder or model_data_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)


def discover_models(added: tuple[Path, ...] | list[Path] = ()) -> list[ModelEntry]:
    """Every model present, best first (highest recorded ImageNet top-1, then by name)."""
    entries = [_entry(p, "built-in") for p in find_model_files(model_data_dir())]
    shipped = {(p.name, p.stat().st_size) for p in find_model_files(model_data_dir())}
    entries += [_entry(p, "downloaded") for p in find_model_files(user_models_dir())
                if (p.name, p.stat().st_size) not in shipped]  # the built-in model, converted by setup too
    seen = {e.path.resolve() for e in entries}
    for path in map(Path, added):
        if path.is_file() and path.resolve() not in seen:
            seen.add(path.resolve())
            entries.append(_entry(path, "added"))
    return sorted(entries, key=lambda e: (-(e.imagenet_top1 or -1.0), e.name.lower()))


def default_model_path() -> Path:
    """The best model present, or NoModelError saying how to get one."""
    found = discover_models()
    if not found:
        raise NoModelError(
            "no model is installed. Download one with `vit-gui models get vit-b16` "
            f"(see `vit-gui models list`), pass --model FILE with a ViT checkpoint "
            f"(.pth/.pt/.safetensors), or put one in {model_data_dir()} or {user_models_dir()}"
        )
    return found[0].path

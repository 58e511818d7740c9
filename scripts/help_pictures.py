"""resources/help/*.jpg: the pictures of the "What am I looking at?" page, made with the
real built-in DINOv2 ViT-S/14 backbone on a sample photo (re-run after changing a map).
Usage: python scripts/help_pictures.py [MODEL]
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit_gui.explain import rollout  # noqa: E402
from vit_gui.explain.legend import with_legend  # noqa: E402
from vit_gui.explain.maps import MapSpec  # noqa: E402
from vit_gui.explain.overlay import overlay  # noqa: E402
from vit_gui.explain.sheet import atlas_sheet, tile_sheet  # noqa: E402
from vit_gui.images import load_image  # noqa: E402
from vit_gui.model.catalog import default_model_path  # noqa: E402
from vit_gui.predict import Predictor  # noqa: E402

OUT = ROOT / "resources" / "help"
WIDTH = 320


def main() -> None:
    predictor = Predictor.from_file(sys.argv[1] if len(sys.argv) > 1 else default_model_path())
    photo = load_image(ROOT / "resources" / "samples" / "chelsea.jpg").image
    small = photo.resize((WIDTH, round(WIDTH * photo.height / photo.width)))
    prediction = predictor.predict([photo], with_attentions=True)[0]
    OUT.mkdir(parents=True, exist_ok=True)
    small.save(OUT / "photo.jpg", quality=85)

    def picture(grid_map, size=small.size):
        return overlay(small, grid_map, prediction.geometry, "inferno", 0.6, size=size)

    words = ("less attention", "more attention")
    for name, spec in (("rollout", MapSpec(start_block=1)), ("block", MapSpec("block", block=9)),
                       ("head", MapSpec("head", block=11, head=4))):
        with_legend(picture(prediction.map(spec)), "inferno", *words).save(OUT / f"{name}.jpg", quality=85)
    tile = small.resize((96, round(96 * small.height / small.width)))
    attn, grid, prefix = prediction.attentions, prediction.grid, prediction.num_prefix

    def tiles(maps):
        return [overlay(tile, m, prediction.geometry, "inferno", 0.6, size=tile.size) for m in maps]

    blocks = rollout.block_maps(attn, grid, "mean", prefix, prediction.photo)
    tile_sheet(tiles(blocks), [f"block {i + 1}" for i in range(len(blocks))], 6).image.save(
        OUT / "blocks.jpg", quality=85)
    atlas = atlas_sheet([tiles(rollout.head_maps(attn, grid, b, prefix, prediction.photo)) for b in range(len(attn))]).image
    atlas.thumbnail((560, 1200))
    atlas.save(OUT / "atlas.jpg", quality=85)
    for path in sorted(OUT.glob("*.jpg")):
        print(path.relative_to(ROOT), path.stat().st_size)


if __name__ == "__main__":
    main()

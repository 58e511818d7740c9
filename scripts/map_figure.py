"""docs/maps-dinov2.png: what each map shows on the real DINOv2 ViT-S/14 backbone.

Rows: the sample photos. Columns: rollout over all 12 blocks, rollout from block 2, block 12
(heads fused), and the two heads of block 12 that outline the object best for these photos.
Usage: python scripts/map_figure.py [MODEL] (default: the built-in backbone)
"""

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit_gui.explain.maps import MapSpec  # noqa: E402
from vit_gui.explain.overlay import overlay  # noqa: E402
from vit_gui.images import load_image  # noqa: E402
from vit_gui.model.catalog import default_model_path  # noqa: E402
from vit_gui.predict import Predictor  # noqa: E402

COLUMNS = [
    ("rollout, blocks 1-12", MapSpec()),
    ("rollout, blocks 2-12", MapSpec(start_block=1)),
    ("block 12, heads fused", MapSpec("block", block=11)),
    ("block 12, head 1", MapSpec("head", block=11, head=0)),
    ("block 12, head 5", MapSpec("head", block=11, head=4)),
]
TILE, LABEL = 220, 22


def main() -> int:
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else default_model_path()
    predictor = Predictor.from_file(model)
    photos = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
    sheet = Image.new("RGB", (TILE * len(COLUMNS), LABEL + TILE * len(photos)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (title, _) in enumerate(COLUMNS):
        draw.text((c * TILE + 6, 5), title, fill="black")
    for r, path in enumerate(photos):
        image = load_image(path).image
        (prediction,) = predictor.predict([image], with_attentions=True)
        for c, (_, spec) in enumerate(COLUMNS):
            picture = overlay(image, prediction.map(spec), prediction.geometry, "inferno", 0.6)
            picture.thumbnail((TILE, TILE))
            x = c * TILE + (TILE - picture.width) // 2
            y = LABEL + r * TILE + (TILE - picture.height) // 2
            sheet.paste(picture, (x, y))
    out = ROOT / "docs" / "maps-dinov2.png"
    sheet.save(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write an untrained ViT-Ti/16 (random weights) with a sidecar saying so: a stand-in for
checks that need *a* model file, such as the packaged self-test in CI where no pretrained
weights can be downloaded. Usage: python scripts/make_test_model.py FOLDER"""

import json
import sys
from pathlib import Path

import torch

from vit_gui.model.vit import VisionTransformer

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    path = folder / "untrained-vit-ti16.pth"
    torch.save(VisionTransformer(embed_dim=192, depth=12, num_heads=3, num_classes=1000).state_dict(), path)
    path.with_name(path.name + ".json").write_text(json.dumps({
        "name": "untrained ViT-Ti/16 (random weights, for checks only)", "num_heads": 3,
        "source": "scripts/make_test_model.py"}))
    print(path)

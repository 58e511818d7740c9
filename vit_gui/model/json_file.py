"""A model's JSON files (our sidecar, a Hugging Face config.json or preprocessor_config.json),
read defensively: a regular file, of a sane size, parsed without a traceback, holding an
object. Its own module so that both readers of model facts use it without importing each
other."""

from __future__ import annotations

import json
from pathlib import Path

from vit_gui.errors import ModelConfigError
from vit_gui.file_kinds import require_regular_file

MAX_SIDECAR_BYTES = 16 * 1024 * 1024


def read_json_object(path: Path, what: str = "", expected: str = "a JSON object") -> dict:
    require_regular_file(path, ModelConfigError, what)
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise ModelConfigError(f"{path.name} is larger than a model's facts can be ({MAX_SIDECAR_BYTES:,} bytes)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ModelConfigError(f"{path.name}: not a usable JSON file (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, and int() of 5,000 digits
        raise ModelConfigError(f"{path.name}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path.name}: expected {expected}")
    return data

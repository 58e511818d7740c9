"""Shared helpers for the benchmark scripts: machine facts, medians, results files."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    import torch

    threads = torch.get_num_threads()
    return (f"{cpu_name()}, {os.cpu_count()} cores ({threads} torch threads), "
            f"Python {platform.python_version()}, torch {torch.__version__}, {platform.system()}")


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def write_results(name: str, title: str, lines: list[str]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    header = [f"# {title}", "", f"Measured {date.today().isoformat()} on {machine()}.", ""]
    path.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print(path.read_text())
    return path


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"

"""Shared helpers for the benchmark scripts: machine facts, medians, results files."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# the first line of a child program (python -c) that measures its own peak memory
CHILD_PRELUDE = f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); from common import peak_rss\n"


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux VmHWM). getrusage's ru_maxrss is
    no good here: Linux carries it across fork and exec, so it starts at the parent's size."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: the CPU features that decide which number format is fast (bfloat16 needs AMX to beat float32)
FEATURES = ("amx_tile", "amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


def cpu_features() -> str:
    """Which of FEATURES this CPU has, e.g. 'AVX-512 BF16: yes, AMX: no, AVX2: yes'."""
    try:
        flags = set(next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return "unknown (no /proc/cpuinfo)"
    return ", ".join(f"{name}: {'yes' if name in flags else 'no'}" for name in FEATURES)


def machine() -> str:
    import torch

    threads = torch.get_num_threads()
    return (f"{cpu_name()}, {os.cpu_count()} cores ({threads} torch threads; CPU features {cpu_features()}), "
            f"Python {platform.python_version()}, torch {torch.__version__}, {platform.system()}")


def spread(samples: list[float], scale: float = 1000.0, digits: int = 1) -> str:
    """'median (min–max; n=N)' of samples (seconds, shown in ms by default)."""
    values = [scale * v for v in samples]
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f}; "
            f"n={len(values)})")


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median (order statistics: the binomial(n, 1/2)
    quantiles), for paired per-round ratios whose spread a single median hides."""
    from scipy.stats import binom

    ordered, n = sorted(values), len(values)
    low = int(binom.ppf((1 - confidence) / 2, n, 0.5))
    low = max(low - 1, 0) if binom.cdf(low, n, 0.5) > (1 - confidence) / 2 else low
    return ordered[low], ordered[n - 1 - low]


def matmul_gflops(dtype, repeats: int = 7) -> list[float]:
    """GFLOP/s samples of one ViT-B-sized matmul (batch-32 MLP: 6,304 tokens x 768 x 3,072),
    the peak a ViT's float32 path is judged against."""
    import time

    import torch

    a, b = torch.randn(6304, 768, dtype=dtype), torch.randn(768, 3072, dtype=dtype)
    a @ b
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        out.append(2 * 6304 * 768 * 3072 / (time.perf_counter() - start) / 1e9)
    return out


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

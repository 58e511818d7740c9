"""Map maths with torch's default threads (what the GUI thread did) against one thread
(what the map thread does now), on an idle machine and beside a busy 2-thread process.

Random attentions shaped like a ViT-S/14 at 224 px (257 tokens) and at DINOv2's 518 px
(1,370 tokens); rollout from block 1 with 30% discarded, a block map and a head map.
Writes benchmarks/results/map-threads.md.
Usage: python benchmarks/map_threads.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")  # a fork of a process with torch threads can hang


def busy(stop) -> None:
    """Another program using two threads (a matmul loop), as on a busy laptop."""
    import torch

    torch.set_num_threads(2)
    a = torch.randn(1024, 1024)
    while not stop.is_set():
        a @ a


def attentions(tokens: int, blocks=12, heads=6):
    import torch

    torch.manual_seed(0)
    return torch.softmax(3 * torch.randn(blocks, heads, tokens, tokens), dim=-1)


def timed(work, threads: int, repeats: int) -> list[float]:
    """Run `work` in a fresh thread limited to `threads` torch threads (as the map thread is)."""
    samples = []

    def run():
        import torch

        torch.set_num_threads(threads)
        work()  # warm
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            samples.append(time.perf_counter() - start)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    import torch

    from vit_gui.explain.maps import MapSpec, compute_map

    default_threads = torch.get_num_threads()
    specs = [MapSpec("rollout", discard_ratio=0.3), MapSpec("block", block=5), MapSpec("head", block=11, head=2)]
    rows = [f"| tokens | map | load | default threads ({default_threads}) | 1 thread | ratio |",
            "| --- | --- | --- | --- | --- | --- |"]
    for tokens, grid in ((257, (16, 16)), (1370, (37, 37))):
        attn = attentions(tokens)
        for spec in specs:
            for load in ("idle", "busy 2-thread process"):
                stop = SPAWN.Event()
                process = None
                if load != "idle":
                    process = SPAWN.Process(target=busy, args=(stop,))
                    process.start()
                    time.sleep(1.0)
                results = {}
                # alternate the two settings so drifting load touches both alike
                for threads in (default_threads, 1, default_threads, 1):
                    results.setdefault(threads, []).extend(
                        timed(lambda a=attn, g=grid, s=spec: compute_map(a, g, s), threads, args.repeats // 2 + 1))
                if process is not None:
                    stop.set()
                    process.join()
                many, one = (statistics.median(results[t]) * 1000 for t in (default_threads, 1))
                spread = {t: (min(results[t]) * 1000, max(results[t]) * 1000) for t in results}
                rows.append(f"| {tokens} | {spec.slug} | {load} | {many:.1f} ms ({spread[default_threads][0]:.1f}–"
                            f"{spread[default_threads][1]:.1f}) | {one:.1f} ms ({spread[1][0]:.1f}–{spread[1][1]:.1f})"
                            f" | {many / one:.2f} |")
                print(rows[-1], flush=True)
    lines = [f"Commit {git_revision()}. Medians of {2 * (args.repeats // 2 + 1)} runs per cell (range in brackets), "
             "the two thread settings alternated in one run.", ""] + rows + [
        "", "The window computes maps on its map thread with one torch thread, so none of this time is spent "
        "on the GUI thread any more; the table shows what one thread costs or saves there."]
    write_results("map-threads", "Map maths: default torch threads vs one thread", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

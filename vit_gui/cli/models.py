"""`vit-gui models list|get`: the catalogue, the models present, downloads."""

from __future__ import annotations

import sys

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_OK, say


def run_models(args) -> int:
    from vit_gui.model import catalog
    from vit_gui.results_csv import printable

    if args.models_command == "list":
        present = catalog.discover_models()
        installed = {e.path.name for e in present}
        lines = ["Catalogue (vit-gui models get NAME):"]
        for m in catalog.CATALOG:
            mark = "installed" if m.filename in installed else f"~{m.approx_bytes / 1e6:.0f} MB"
            lines.append(f"  {m.name:<18} {m.title:<50} {m.what:<28} "
                         f"{m.license:<11} {mark}")
        lines.append("Models present (best first; the first is the default):" if present else "No models present.")
        for entry in present:
            lines.append(f"  {entry.name}  [{entry.origin}]  {entry.path}")
            if entry.problem:  # listed, never the default: the others still work
                lines.append(f"      cannot be used: {entry.problem}")
        if sys.stdout is not None:
            print("\n".join(printable(line) for line in lines))
        return EXIT_OK
    from vit_gui.model.download import (
        DownloadCancelled,
        DownloadError,
        check_url,
        download_model,
        installed_path,
        sha256_of,
    )

    try:
        model = catalog.known_model(args.name)
        if args.url:
            check_url(args.url)  # before 'downloading ... from' an address that is none
    except KeyError as exc:
        say(f"error: {exc.args[0]}")
        return EXIT_CANNOT_RUN
    except DownloadError as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    present = installed_path(model)
    if present.is_file() and model.sha256 and sha256_of(present) == model.sha256:
        say(f"{model.title} is already installed and intact: {present}")
        return EXIT_OK
    say(f"downloading {model.title} (~{model.approx_bytes / 1e6:.0f} MB, {model.license}) from {args.url or model.url}")
    try:
        path = download_model(model, url=args.url, progress=ProgressPrinter())
    except KeyboardInterrupt:
        say("cancelled; run the same command again to resume")
        return EXIT_CANNOT_RUN
    except (DownloadError, DownloadCancelled) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    say(f"installed {path}")
    return EXIT_OK


class ProgressPrinter:
    """A one-line progress bar on a terminal, a line per 10% elsewhere (logs, pipes)."""

    def __init__(self):
        self.last_decile = -1

    def __call__(self, done: int, total: int | None) -> None:
        if sys.stderr is None:
            return
        if total:
            fraction = done / total
            bar = "#" * int(30 * fraction)
            text = f"[{bar:<30}] {100 * fraction:5.1f}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            fraction, text = 0.0, f"{done / 1e6:.1f} MB"
        if sys.stderr.isatty():
            print(f"\r{text}", end="" if done != total else "\n", file=sys.stderr, flush=True)
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            print(text, file=sys.stderr, flush=True)



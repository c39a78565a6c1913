"""Sub-commands ``cartsim viz`` (the teaching page) and ``cartsim animate`` (GIF/MP4 for slides).

Heavy imports (Solara, Mesa's visualization, Pillow) happen inside the command functions, so
``cartsim --help`` stays fast and works without the ``viz`` extra.
"""

from __future__ import annotations

import argparse

from cartsim.config import ConfigError
from cartsim.config.loading import parse_set_options

VIZ_EPILOG = """\
examples:
  cartsim viz --prepare-offline                 # once: fetch the page's browser files (needs npm)
  cartsim viz                                   # the classroom experiment at http://127.0.0.1:8765/
  cartsim viz configs/dual_target.yaml --port 8800
  cartsim viz --host 0.0.0.0                    # let other computers of the classroom connect

Every browser tab gets its own simulation. The page needs no internet once its browser files
are prepared (they live in the Python environment; `make viz-assets` does the same).
"""

ANIMATE_EPILOG = """\
examples:
  cartsim animate configs/quickstart.yaml --out quickstart.gif
  cartsim animate configs/dual_target.yaml --out dual.mp4 --every 3 --overlay IL6
"""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port




def _cmd_viz(args: argparse.Namespace) -> int:
    from cartsim.viz import offline_assets

    if args.prepare_offline:
        report = offline_assets.prepare(args.assets, progress=not args.quiet)
        if not args.quiet:
            if report.added:
                print(f"prepared {len(report.added)} package(s) in {report.cache_dir}: "
                      f"{', '.join(report.added)}")
            else:
                print(f"already prepared in {report.cache_dir}")
        return 0
    try:
        from cartsim.viz.serve import serve
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the page needs the 'viz' extra ({exc.name} is not installed): "
                          "pip install 'cartsim[viz]'") from None
    print(f"cartsim: serving the teaching page at http://{args.host}:{args.port}/ (Ctrl-C stops it)",
          flush=True)
    serve(args.config, host=args.host, port=args.port, assets=args.assets, open_browser=args.open)
    return 0


def _cmd_animate(args: argparse.Namespace) -> int:
    from cartsim.config import load_config
    from cartsim.viz.animation import animate

    config = load_config(args.config, parse_set_options(args.set))
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: seeds are whole numbers >= 0")
    result = animate(config, args.out, every_h=args.every, fps=args.fps, overlay=args.overlay,
                     seed=args.seed, progress=not args.quiet)
    if not args.quiet:
        print(f"{result.path}: {result.frames} frames, day {result.days[0]:g} to {result.days[-1]:g}")
    return 0


def register(subparsers) -> None:
    """Add ``viz`` and ``animate`` to the ``cartsim`` command line."""
    p = subparsers.add_parser(
        "viz", help="serve the interactive teaching page in the browser",
        description="Serve the interactive page: the tissue with CAR-T and tumor cells, live "
        "plots, and sliders for dose, infusion day, CAR design, antigen loss, kill rate and tumor "
        "type. Without CONFIG it shows a classroom experiment (CD19+CD22+ tumor, four CAR "
        "designs); with CONFIG it starts from that file's values and offers its products.",
        epilog=VIZ_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="experiment YAML file (default: the classroom experiment)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; "
                   "0.0.0.0 lets others connect)")
    p.add_argument("--port", type=_port, default=8765, help="TCP port (default 8765)")
    p.add_argument("--open", action="store_true", help="open the page in the web browser")
    p.add_argument("--prepare-offline", action="store_true",
                   help="fetch the page's browser files with npm into the asset folder and exit; "
                   "needed once, after which the page works with no internet")
    p.add_argument("--assets", metavar="DIR",
                   help="asset folder (default: $SOLARA_ASSETS_PROXY_CACHE_DIR, else "
                   "share/solara/cdn in the Python environment)")
    p.add_argument("--quiet", action="store_true", help="no progress output (--prepare-offline)")
    p.set_defaults(func=_cmd_viz)

    p = subparsers.add_parser(
        "animate", help="render the tissue over time to a GIF or MP4 for slides",
        description="Run an experiment and render the tissue over time, with a clock and a small "
        "tumor-burden plot, to a GIF (or an MP4 where ffmpeg is installed).",
        epilog=ANIMATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML file")
    p.add_argument("--out", required=True, metavar="FILE", help="output file, .gif or .mp4")
    p.add_argument("--every", type=float, default=6.0, metavar="HOURS",
                   help="simulated hours between frames (default 6)")
    p.add_argument("--fps", type=int, default=8, help="frames per second (default 8)")
    p.add_argument("--overlay", metavar="CYTOKINE",
                   help="show a cytokine's concentration under the cells: the name of one of the "
                   "experiment's cytokines (IL2, IFNg, IL6 and any added in its cytokines: section)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a config value by dotted path, e.g. --set dosing.0.cells=500; repeatable")
    p.add_argument("--seed", type=int, help="random seed (default: the config's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_cmd_animate)

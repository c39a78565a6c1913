"""Serve the teaching page with Solara's server, offline.

The server runs in this process. Before Solara is imported, the environment is set so that
nothing is fetched from the internet while the page is served: no usage statistics, no
version check, and browser files come only from the asset cache filled by
:func:`cartsim.viz.offline_assets.prepare` (a file missing there is answered with 404 and a
log line naming the fix, instead of a download).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cartsim.config import ConfigError
from cartsim.viz import offline_assets
from cartsim.viz.page_params import CONFIG_ENV, page_config

APP = "cartsim.viz.app"
log = logging.getLogger("cartsim.viz")


def _no_download(url: str) -> bytes:
    raise RuntimeError(f"{url.rsplit('/', 1)[-1]} is missing from the asset cache and cartsim does not "
                       "download at run time: run `cartsim viz --prepare-offline` once")


def serve(config: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 8765,
          assets: str | Path | None = None, open_browser: bool = False) -> None:
    """Serve the page for ``config`` at ``http://host:port/`` until interrupted.

    Args:
        config: experiment YAML file (validated first), or None for the classroom experiment.
        host: address to listen on; the default only accepts this computer.
        port: TCP port.
        assets: asset cache folder (default :func:`~cartsim.viz.offline_assets.default_cache_dir`).
        open_browser: open the page in the default web browser once the server is up.

    Raises :class:`~cartsim.config.ConfigError` for a bad config or an unfilled asset cache.
    """
    if config is not None:
        page_config(config)  # one clear message now rather than a broken page later
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    else:
        os.environ.pop(CONFIG_ENV, None)
    cache = Path(assets) if assets is not None else offline_assets.default_cache_dir()
    missing = offline_assets.missing_specs(cache)
    if missing:
        raise ConfigError(f"the page's browser files are not prepared in {cache} (missing "
                          f"{', '.join(missing)}). Run `cartsim viz --prepare-offline` once "
                          "(needs npm), or `make viz-assets`.")

    os.environ[offline_assets.CACHE_ENV] = str(cache.resolve())
    os.environ["SOLARA_ASSETS_PROXY"] = "true"
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "false"

    import solara.server.cdn_helper as cdn_helper
    from solara.__main__ import run

    cdn_helper.fetch_from_cdn = _no_download
    args = [APP, "--host", host, "--port", str(port), "--production", "--no-check-version",
            "--open" if open_browser else "--no-open", "--log-level-uvicorn", "warning"]
    run.main(args=args, standalone_mode=False)

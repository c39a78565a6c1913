"""Fill Solara's asset cache from npm, so that the browser page works with no internet.

The page's browser code (the Vue/Vuetify application bundle with its fonts, RequireJS, the
draggable grid layout and Font Awesome) is requested from the Solara server under
``/_solara/cdn/<package>@<version>/<file>``. The server answers from its asset cache folder
and would otherwise fetch a missing file from a public CDN, which a classroom without internet
cannot reach (the page stays blank). :func:`prepare` fills the folder once, from the npm
packages themselves: ``npm pack <package>@<version>``, unpacked without the tarball's top
folder into ``<cache>/<package>@<version>/``, which is the layout the server reads.

The folder is the one Solara uses: ``$SOLARA_ASSETS_PROXY_CACHE_DIR`` if set, else
``<python prefix>/share/solara/cdn`` (inside the virtual environment). Copying a filled folder
to another machine with the same Solara version works too.

Command line: ``cartsim viz --prepare-offline`` (or ``make viz-assets``). About 150 MB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cartsim.progress import ProgressBar

from cartsim.config import ConfigError

CACHE_ENV = "SOLARA_ASSETS_PROXY_CACHE_DIR"

# The npm packages the page's browser code comes from, with the versions Solara 1.64 asks for.
# :func:`required_specs` reads the versions from the installed Solara instead, so that an
# upgraded Solara gets the files it needs; these are the fallback.
PACKAGES: dict[str, str] = {
    "@widgetti/solara-vuetify-app": "10.1.1",   # the application bundle (Vuetify 2)
    "@widgetti/solara-vuetify3-app": "5.2.0",   # the same for Vuetify 3 (newer ipyvuetify)
    "@widgetti/vue-grid-layout": "2.3.13-alpha.2",  # the draggable tiles of Mesa's page
    "requirejs": "2.3.6",                       # module loader used by the grid layout
    "font-awesome": "4.5.0",                    # icons
}

# "<package>@<exact version>/" as written in Solara's templates and settings.
_VERSION = r"(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)/"
_SCAN_SUFFIXES = (".py", ".vue", ".j2", ".html")
_NAME_CHAR = re.compile(r"[\w.-]")


def _solara_dir() -> Path | None:
    try:
        import solara
    except ImportError:
        return None
    return Path(solara.__file__).parent


def required_specs(solara_dir: Path | None = None) -> list[str]:
    """``name@version`` of every package in :data:`PACKAGES`, at the version Solara asks for.

    The installed Solara's templates, widgets and settings are searched for
    ``<name>@<version>/``; a package not found there gets its :data:`PACKAGES` version.
    """
    solara_dir = _solara_dir() if solara_dir is None else solara_dir
    found: dict[str, set[str]] = {name: set() for name in PACKAGES}
    patterns = {name: re.compile(re.escape(name) + "@" + _VERSION) for name in PACKAGES}
    if solara_dir is not None:
        for sub in ("server", "widgets", "components"):
            for path in (solara_dir / sub).rglob("*"):
                if path.suffix not in _SCAN_SUFFIXES or not path.is_file():
                    continue
                text = path.read_text(encoding="utf-8", errors="ignore")
                for name, pattern in patterns.items():
                    # whole names only: "requirejs@" must not match inside "xrequirejs@"
                    found[name].update(m.group(1) for m in pattern.finditer(text)
                                       if m.start() == 0 or not _NAME_CHAR.match(text[m.start() - 1]))
    specs = []
    for name, default in PACKAGES.items():
        versions = sorted(found[name]) or [default]
        specs += [f"{name}@{v}" for v in versions]
    return specs


def default_cache_dir() -> Path:
    """The folder Solara's server reads cached assets from (see the module docstring)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    # Solara's own rule (solara.server.settings): the user base for a user install, else sys.prefix.
    solara_dir = _solara_dir()
    user_base = site.getuserbase()
    prefix = user_base if (user_base and solara_dir and str(solara_dir).startswith(user_base)) else sys.prefix
    return Path(prefix) / "share" / "solara" / "cdn"


def is_complete(cache_dir: Path, spec: str) -> bool:
    """Whether ``spec``'s package is unpacked in ``cache_dir``.

    Its ``package.json`` is the test: the server never caches that file itself, and
    :func:`prepare` moves a package into place only once it is fully unpacked.
    """
    return (Path(cache_dir) / spec / "package.json").is_file()


def missing_specs(cache_dir: Path | None = None, specs: list[str] | None = None) -> list[str]:
    """The specs of :func:`required_specs` not yet complete in ``cache_dir``."""
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    specs = required_specs() if specs is None else specs
    return [s for s in specs if not is_complete(cache_dir, s)]


@dataclass
class PrepareReport:
    """What :func:`prepare` did: the cache folder, packages added and packages already there."""

    cache_dir: Path
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


def _npm_pack(npm: str, specs: list[str], dest: Path) -> list[Path]:
    try:
        proc = subprocess.run(
            [npm, "pack", *specs, "--json", "--ignore-scripts", "--pack-destination", str(dest)],
            cwd=dest, capture_output=True, text=True, timeout=600,
        )
    except FileNotFoundError:
        raise ConfigError(f"npm not found ({npm!r}); it is needed once to fetch the page's browser "
                          "files. Install Node.js and npm (Debian: apt-get install npm), or copy a "
                          "filled asset folder from a machine that has it.") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "ERR" in ln] or proc.stderr.splitlines()
        raise ConfigError(f"npm pack failed for {' '.join(specs)}: "
                          + (" ".join(lines[-3:]) or f"exit status {proc.returncode}"))
    try:
        packed = json.loads(proc.stdout)
        return [dest / item["filename"] for item in packed]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"npm pack gave unexpected output for {' '.join(specs)}") from None


def _unpack(tarball: Path, dest: Path) -> None:
    """Unpack an npm tarball into ``dest`` without its top folder (like ``tar --strip-components=1``)."""
    with tarfile.open(tarball) as tar:
        members = []
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1] or not (member.isfile() or member.isdir()):
                continue
            member.name = parts[1]
            members.append(member)
        tar.extractall(dest, members=members, filter="data")


def prepare(cache_dir: str | os.PathLike | None = None, *, npm: str = "npm",
            progress: bool = True) -> PrepareReport:
    """Fill ``cache_dir`` (default :func:`default_cache_dir`) with the page's browser files.

    Packages already complete are left alone, so running it again costs nothing. Each package
    is unpacked into a temporary folder and renamed into place, so an interrupted run never
    leaves a half-filled package behind. Raises :class:`~cartsim.config.ConfigError` when npm
    is missing or fails.
    """
    cache = default_cache_dir() if cache_dir is None else Path(cache_dir)
    specs = required_specs()
    report = PrepareReport(cache)
    todo = [s for s in specs if not is_complete(cache, s)]
    report.present = [s for s in specs if s not in todo]
    if not todo:
        return report
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".npm-pack-") as tmp:
        tmp = Path(tmp)
        tarballs = _npm_pack(npm, todo, tmp)
        if len(tarballs) != len(todo):
            raise ConfigError(f"npm pack returned {len(tarballs)} packages for {len(todo)} requested")
        for spec, tarball in ProgressBar(list(zip(todo, tarballs, strict=True)), desc="unpacking",
                                  unit="package", disable=not progress):
            staging = tmp / f"unpacked-{len(report.added)}"
            _unpack(tarball, staging)
            if not (staging / "package.json").is_file():
                raise ConfigError(f"npm package {spec} has no package.json; not a usable package")
            target = cache / spec
            if target.exists():  # files the server cached on its own: replace with the package
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, target)
            report.added.append(spec)
    return report

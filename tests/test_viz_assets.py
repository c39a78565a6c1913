"""Offline assets for the page (filled from npm tarballs) and `cartsim viz` start-up checks.

npm itself is replaced by a small stand-in script that writes tarballs in npm's layout, so these
tests need no network; the real npm is used by `make viz-assets` before the browser test.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import solara

from cartsim.config import ConfigError
from cartsim.viz import offline_assets
from cartsim.viz.offline_assets import PACKAGES, missing_specs, prepare, required_specs

from .conftest import CONFIGS, ROOT

FAKE_NPM = f"""#!{sys.executable}
# Stand-in for `npm pack SPEC... --json --ignore-scripts --pack-destination DIR`.
import io, json, os, sys, tarfile
args = sys.argv[1:]
assert args[0] == "pack", args
dest = args[args.index("--pack-destination") + 1]
specs = [a for a in args[1:] if not a.startswith("--") and a != dest]
if os.environ.get("FAKE_NPM_FAIL"):
    print("npm ERR! code E404", file=sys.stderr)
    sys.exit(1)
out = []
for spec in specs:
    name = spec.rsplit("@", 1)[0]
    filename = name.replace("@", "").replace("/", "-") + "-" + spec.rsplit("@", 1)[1] + ".tgz"
    with tarfile.open(os.path.join(dest, filename), "w:gz") as tar:
        for path, text in (("package/package.json", json.dumps({{"name": name}})),
                           ("package/dist/main.js", "// " + spec)):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.append({{"filename": filename, "name": name}})
print(json.dumps(out))
"""


@pytest.fixture
def fake_npm(tmp_path) -> Path:
    path = tmp_path / "bin" / "npm"
    path.parent.mkdir()
    path.write_text(FAKE_NPM)
    path.chmod(0o755)
    return path


def test_required_versions_are_the_ones_the_installed_solara_asks_for():
    specs = required_specs()
    assert [s.rsplit("@", 1)[0] for s in specs] == list(PACKAGES)
    source = "".join(p.read_text(errors="ignore") for p in Path(solara.__file__).parent.rglob("*")
                     if p.suffix in (".py", ".vue", ".j2") and p.is_file())
    for spec in specs:
        assert f"{spec}/" in source, spec


def test_required_versions_fall_back_when_solara_does_not_say(tmp_path):
    assert required_specs(tmp_path) == [f"{n}@{v}" for n, v in PACKAGES.items()]
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "page.html").write_text('<script src="{{cdn}}/requirejs@9.9.9/r.js">')
    assert "requirejs@9.9.9" in required_specs(tmp_path)


def test_prepare_unpacks_each_package_without_its_top_folder(tmp_path, fake_npm):
    cache = tmp_path / "cdn"
    # A folder the server had started filling on its own is replaced by the whole package.
    partial = cache / "requirejs@2.3.6" / "require.js"
    partial.parent.mkdir(parents=True)
    partial.write_text("partial")
    report = prepare(cache, npm=str(fake_npm), progress=False)
    assert report.added == required_specs() and report.present == []
    for spec in required_specs():
        assert (cache / spec / "package.json").is_file()
        assert (cache / spec / "dist" / "main.js").read_text() == f"// {spec}"
    assert not partial.exists()
    assert missing_specs(cache) == []
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary folders left
    again = prepare(cache, npm=str(fake_npm), progress=False)
    assert again.added == [] and again.present == required_specs()


def test_prepare_reports_a_missing_or_failing_npm(tmp_path, fake_npm, monkeypatch):
    with pytest.raises(ConfigError, match="npm not found"):
        prepare(tmp_path / "cdn", npm=str(tmp_path / "no-such-npm"), progress=False)
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")
    with pytest.raises(ConfigError, match="npm pack failed.*E404"):
        prepare(tmp_path / "cdn", npm=str(fake_npm), progress=False)
    assert missing_specs(tmp_path / "cdn") == required_specs()


def test_unpack_refuses_paths_outside_the_folder(tmp_path):
    tgz = tmp_path / "evil.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("package/../../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        offline_assets._unpack(tgz, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_cache_folder_follows_solaras_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SOLARA_ASSETS_PROXY_CACHE_DIR", str(tmp_path))
    assert offline_assets.default_cache_dir() == tmp_path
    monkeypatch.delenv("SOLARA_ASSETS_PROXY_CACHE_DIR")
    assert offline_assets.default_cache_dir() == Path(sys.prefix) / "share" / "solara" / "cdn"


def cartsim(*args, env=None):
    return subprocess.run([sys.executable, "-m", "cartsim.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_prepare_offline_command_fills_the_folder(tmp_path, fake_npm):
    env = {**os.environ, "PATH": f"{fake_npm.parent}{os.pathsep}{os.environ['PATH']}"}
    r = cartsim("viz", "--prepare-offline", "--assets", tmp_path / "cdn", "--quiet", env=env)
    assert r.returncode == 0, r.stderr
    assert missing_specs(tmp_path / "cdn") == []
    r = cartsim("viz", "--prepare-offline", "--assets", tmp_path / "cdn", env=env)
    assert r.returncode == 0 and "already prepared" in r.stdout


def test_viz_refuses_to_start_without_prepared_files_or_with_a_bad_config(tmp_path, capsys):
    r = cartsim("viz", "--assets", tmp_path / "empty", "--port", "1")
    assert r.returncode == 2
    assert "not prepared" in r.stderr and "--prepare-offline" in r.stderr
    assert "Traceback" not in r.stderr

    from cartsim.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("antigens: {CD19: {loss_probability: 1.5}}\n")
    assert main(["viz", str(bad)]) == 2
    assert "loss_probability" in capsys.readouterr().err
    assert main(["viz", str(CONFIGS / "missing.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["viz", "--port", "70000"])
    assert exc.value.code == 2 and "not a port number" in capsys.readouterr().err

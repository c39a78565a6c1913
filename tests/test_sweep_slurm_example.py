"""examples/slurm_sweep.py: the SLURM job script it would submit, and its run path on a LocalCluster."""

from __future__ import annotations

import importlib.util
import sys

import yaml

from cartsim.experiments.results import load_results

from .conftest import ROOT
from .test_sweep_execution import TINY


def load_example():
    spec = importlib.util.spec_from_file_location("slurm_sweep", ROOT / "examples" / "slurm_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_job_script_asks_slurm_for_single_threaded_workers(tmp_path, capsys):
    example = load_example()
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    code = example.main([str(config), "--out", str(tmp_path / "out"), "--print-job-script", "--cores", "8",
                         "--memory", "16GB", "--walltime", "01:30:00", "--queue", "short", "--account", "lab",
                         "--prologue", "module load python/3.12"])
    assert code == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH -p short", "#SBATCH -A lab", "#SBATCH --cpus-per-task=8", "#SBATCH -t 01:30:00",
                 "#SBATCH --mem=", "module load python/3.12"):
        assert line in script, line
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    assert worker.startswith(sys.executable) and "--nworkers 8" in worker and "--nthreads 1" in worker
    assert not (tmp_path / "out").exists(), "printing the job script must not start the sweep"


def test_the_same_code_path_runs_a_sweep_on_a_local_cluster(tmp_path):
    example = load_example()
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert example.main([str(config), "--out", str(tmp_path / "out"), "--local", "--cores", "2"]) == 0
    results = load_results(tmp_path / "out")
    assert results.n_ok == 12 and results.n_failed == 0

"""Run a cartsim sweep on a SLURM cluster, through Dask (dask-jobqueue).

Run this on the cluster's login node, inside the environment where cartsim is installed
(``pip install 'cartsim[dask]'``), from a shared filesystem (the sweep folder must be reachable
by this script; the workers only compute and send their results back to it):

    python examples/slurm_sweep.py configs/sensitivity.yaml --out results/sensitivity \\
        --jobs 4 --cores 32 --memory 64GB --walltime 04:00:00 --queue normal --account myproject

This starts a Dask scheduler here and submits ``--jobs`` SLURM jobs, each running ``--cores``
single-threaded Dask workers (a run is one CPU-bound process, so one thread per worker).
Results stream into ``--out`` as runs finish; if the script, a job or the whole allocation dies,
run the same command again and the sweep resumes where it stopped. Check what will be
submitted first with ``--print-job-script``.

``--local`` runs the same code path on a LocalCluster instead of SLURM (for trying it out).
The same works from the command line with any running scheduler:

    cartsim sweep CONFIG --executor dask --scheduler tcp://HOST:8786
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def make_cluster(args: argparse.Namespace) -> Any:
    """A dask-jobqueue SLURMCluster (or, with ``--local``, a LocalCluster) with one thread per worker."""
    if args.local:
        from distributed import LocalCluster

        return LocalCluster(n_workers=args.cores, threads_per_worker=1, processes=True, dashboard_address=None)
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        cores=args.cores,            # CPUs per job (SBATCH --cpus-per-task)
        processes=args.cores,        # as many single-threaded worker processes
        memory=args.memory,          # per job (SBATCH --mem)
        walltime=args.walltime,      # per job (SBATCH -t); runs cut off by it are redone on resume
        queue=args.queue,            # SLURM partition (SBATCH -p)
        account=args.account,        # SBATCH -A
        python=sys.executable,       # the workers use this environment's Python (shared filesystem)
        job_script_prologue=args.prologue,
        scheduler_options={"dashboard_address": args.dashboard},
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML file with a sweep: block")
    p.add_argument("--out", required=True, help="sweep folder (on a shared filesystem)")
    p.add_argument("--jobs", type=int, default=2, help="SLURM jobs to submit (default 2)")
    p.add_argument("--cores", type=int, default=16, help="CPUs (= Dask workers) per job (default 16)")
    p.add_argument("--memory", default="32GB", help="memory per job (default 32GB)")
    p.add_argument("--walltime", default="02:00:00", help="time limit per job (default 02:00:00)")
    p.add_argument("--queue", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--prologue", action="append", default=[],
                   help="shell line run before the workers start, e.g. 'module load python/3.12'; repeatable")
    p.add_argument("--dashboard", default=None, help="dashboard address, e.g. :8787 (default: none)")
    p.add_argument("--force", action="store_true", help="delete earlier results in --out and start over")
    p.add_argument("--print-job-script", action="store_true", help="print the SLURM job script and exit")
    p.add_argument("--local", action="store_true", help="use a LocalCluster instead of SLURM (for testing)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cartsim.experiments.sweep import Sweep

    sweep = Sweep.from_yaml(args.config)  # validate before asking SLURM for anything
    cluster = make_cluster(args)
    try:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        if not args.local:
            cluster.scale(jobs=args.jobs)  # jobs start as SLURM grants them; runs begin with the first worker
        results = sweep.run(args.out, executor="dask", scheduler=cluster.scheduler_address, force=args.force)
    finally:
        cluster.close()
    report = results.report
    print(f"{sweep.config.name}: {report.ok} runs finished now, {report.skipped} already done, "
          f"{len(report.failed)} failed -> {args.out}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

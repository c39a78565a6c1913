"""Imported by the forkserver of the process executor, before it forks any worker.

Importing this module imports the model and loads its compiled kernels (:func:`warm_up`), so
every worker process forked from the server starts with both, and the first run of each worker
costs what any other run costs. See :class:`cartsim.experiments.executors.ProcessExecutor`.
"""

from cartsim.experiments.worker import warm_up

warm_up()

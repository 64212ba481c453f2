"""Shared runs: one study split into tasks that any number of processes, on any machines that see the run
folder, run and gather (`tfganaug plan / worker / status / report`, `train --shard / --executor`).

    tasks.py      a run's tasks, the plan, shards, task records and status
    locks.py      flock and lease locks naming their holder (host:pid)
    executors.py  local processes, Ray and Slurm (submitit) running the tasks
    commands.py   the command-line side: plan, worker, status, train --shard / --executor

What a task runs and how a plan is made from the config lives in `tfganaug.experiment.work` (the one room
that reads the config); this room never sees it.
"""

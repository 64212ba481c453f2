#!/bin/bash
# A tfganaug study as a Slurm job array: plan once, one array task per shard, gather as a dependent job.
#
#   tfganaug plan experiments/gan_recipes_fashion.yaml --out /shared/runs/recipes --shards 8 --lock lease --threads 8
#   jobid=$(sbatch --parsable --array=0-7 deploy/slurm_array.sh experiments/gan_recipes_fashion.yaml /shared/runs/recipes)
#   sbatch --dependency=afterany:$jobid --wrap "tfganaug report /shared/runs/recipes"
#   tfganaug status /shared/runs/recipes        # done / running / failed / missing, and the --array= to resubmit
#
# --lock lease: on NFS, Lustre or GPFS, where flock may not lock across machines. --threads: the
# --cpus-per-task below; every shard's TensorFlow takes it (the plan's count, not this job's environment,
# so that results do not depend on where a shard ran). Array index i runs shard i of the plan's --shards
# (an index past them is refused, exit 2), so a resubmission of the indexes `tfganaug status` prints
# (sbatch --array=1,3 ...) reruns those very shards. A shard that is preempted, requeued (scontrol
# requeue) or cancelled and resubmitted resumes: finished runs are kept, a GAN resumes from its last
# backup; its output file is appended to. tests/test_slurm.py runs all of this on a one-node Slurm
# (overriding --gres, --cpus-per-task, --mem and --time for its node).
# Exit codes: 0 done, 1 a task failed (traceback in <run>/tasks/task-<i>.traceback.txt), 2 bad input
# (do not retry), 130 interrupted (retry: it resumes).
#SBATCH --job-name=tfganaug
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=%x-%A_%a.out
#SBATCH --open-mode=append
set -euo pipefail
config=$1
run=$2
export TF_FORCE_GPU_ALLOW_GROWTH=true
exec tfganaug train "$config" --out "$run" --shard auto

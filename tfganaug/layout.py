"""Names of the files and folders of a run folder: one place for the writers and the readers.

    <run>/config.resolved.yaml   the config with every default filled in
    <run>/results.json           every (group, seed) run and the summary (+ results.csv, results.md)
    <run>/runs/<group>__seed<k>.json   one finished run
    <run>/gans/<prefix>-<key>/   one trained GAN or CycleGAN (gan.json, gan.weights.h5, ...)
    <run>/gan_metrics.json       the GAN metrics; <run>/features/ their caches
    <run>/locks/<model>.lock     held while a process loads or trains that model
    <run>/tasks/                 the task plan and each task's record (`tfganaug plan`, see `tfganaug.sharing.tasks`)
"""

CONFIG_FILE = "config.resolved.yaml"
RESULTS_FILE = "results.json"
RUNS_DIR = "runs"
MODELS_DIR = "gans"
METRICS_FILE = "gan_metrics.json"
FEATURES_DIR = "features"
SPEC_FILE = "gan.json"
WEIGHTS_FILE = "gan.weights.h5"
LOCKS_DIR = "locks"  # <run>/locks/<model folder>.lock: one process trains each model

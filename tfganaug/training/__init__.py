"""Training: classifiers (`classifier`), GANs and CycleGANs into their folders (`gan_fit`, `gan_folder`,
`grids`), each distinct model once per run (`providers`)."""

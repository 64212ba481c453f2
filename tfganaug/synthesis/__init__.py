"""What a group trains on besides its real images: control groups (`controls`), classical augmentation
(`classical`), generated images (`generate`) and their targets (`labeling`), CycleGAN translations
(`translation`)."""

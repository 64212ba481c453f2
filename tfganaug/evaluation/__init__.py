"""Measuring: classification metrics (`metrics`), statistics over seeds (`statistics`), GAN metrics on
features (`gan_metrics`, `features`) and the GAN metrics of a run's generators (`gan_evaluation`)."""

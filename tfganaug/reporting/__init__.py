"""What a run shows its user: summaries over seeds (`results`), plots (`plots`), report.md/report.html
(`report`), Markdown tables (`tables`) and generator feature maps (`feature_maps`)."""

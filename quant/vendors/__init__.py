"""One module per scanner vendor: how it marks ASL series, where it keeps parameters."""

"""I/O for the analysis engine's regional part: standard-space template and atlas files."""

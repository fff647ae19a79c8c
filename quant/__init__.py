"""ASL perfusion quantification as a pure library: no I/O."""

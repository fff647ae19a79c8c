"""The I/O shell of Cirrus: HTTP app, persistence, blob store, workflow, CLI."""

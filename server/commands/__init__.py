"""Sub-commands of the ``cirrus`` CLI."""

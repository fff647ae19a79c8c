"""HTTP routes; each module exposes ``routes`` (mounted by ``server.app``)."""

"""Patient share links: one study (or series) opened read-only by a URL and an access code."""

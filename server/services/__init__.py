"""Services: the logic behind the routes (ingest, retrieve, delete ...)."""

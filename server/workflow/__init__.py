"""Analysis workflow: detection, jobs, queue, workers, reports."""

"""PACS pull: sources, rules, the pull worker and its receiver (issue 18)."""

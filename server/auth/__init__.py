"""Identity and access: who is asking (a principal) and which studies they may see."""

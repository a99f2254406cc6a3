"""WTForms classes, one module per part, mirroring the seeds' forms."""

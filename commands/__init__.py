"""Command-line commands, grouped by part; the factory registers them."""

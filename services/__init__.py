"""Plain domain logic: no request globals, values in and values out."""

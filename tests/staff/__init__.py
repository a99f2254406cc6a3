"""Tests of the staff part."""

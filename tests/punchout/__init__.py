"""Tests of the punchout part."""

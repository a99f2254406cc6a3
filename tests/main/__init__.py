"""Tests of the main part."""

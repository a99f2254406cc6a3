"""Tests of the support part."""

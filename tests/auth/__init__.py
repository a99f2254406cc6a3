"""Tests of the auth part."""

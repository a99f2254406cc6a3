"""Tests of the payments part."""

"""Tests of the portal part."""

"""Tests of the mail part."""

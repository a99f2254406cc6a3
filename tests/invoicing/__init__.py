"""Tests of the invoicing part."""

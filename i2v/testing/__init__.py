"""Helpers for the test suite that are not tests themselves (e.g. browser fixtures)."""

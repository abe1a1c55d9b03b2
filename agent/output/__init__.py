"""Renderings of results for people and CI systems: terminal tables, JSON, JUnit XML."""

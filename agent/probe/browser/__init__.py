"""Browser steps: one shared Chromium, a fresh context per run, Playwright actions, web vitals, artifacts."""

"""The grading harness: plugin discovery, submission adapters, the pytest
plugin that runs the spec against solutions, scoring, reports and the CLI."""

"""Rendering results: markdown tables (``tables``), PNG plots (``plots``) and report folders
(``pages``: results.json, report.md, report.html), for the evaluate command's report and every
benchmark protocol's."""

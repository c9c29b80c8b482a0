"""Storage: files, journal, snapshot following, validation, the stores, tables, tracks, reports."""

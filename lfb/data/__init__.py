"""Data layer: the SQLite store, the published LFB formats, ingestion, reference tables, demo data, Datastore download."""

"""The job port and its two backends: a durable in-process queue on our own tables (embedded
mode, SQLite) and procrastinate (PostgreSQL, worker processes on any number of machines)."""

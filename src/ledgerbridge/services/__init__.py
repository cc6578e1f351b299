"""Application services: what the API, the CLI and the demo call. They never talk to a
connector's client directly; they go through the engine and the job queue."""

"""All tables; importing this package registers them on ``Base.metadata``."""

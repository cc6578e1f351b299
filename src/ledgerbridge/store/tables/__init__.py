"""All tables; importing this package registers them on ``Base.metadata``."""
from ledgerbridge.store.tables import runtime  # noqa: F401

"""All tables; importing this package registers them on ``Base.metadata``."""
from ledgerbridge.store.tables import tenancy  # noqa: F401
from ledgerbridge.store.tables import hub  # noqa: F401
from ledgerbridge.store.tables import sync  # noqa: F401
from ledgerbridge.store.tables import runtime  # noqa: F401

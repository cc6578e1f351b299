"""All tables; importing this package registers them on ``Base.metadata``."""

from ledgerbridge.store.tables import (
    fences,  # noqa: F401
    files,  # noqa: F401
    flows,  # noqa: F401
    hub,  # noqa: F401
    mail,  # noqa: F401
    reconcile,  # noqa: F401
    runtime,  # noqa: F401
    sync,  # noqa: F401
    tenancy,  # noqa: F401
)

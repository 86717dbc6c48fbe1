"""Security: envelope encryption of datasets, role-based access, the tamper-evident audit log."""

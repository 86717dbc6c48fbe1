"""The revisions, oldest first: 0001 the registry, 0002 the fine-tuning service, 0003 its
queue on PostgreSQL, 0004 a job's token."""

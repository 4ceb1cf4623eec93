//! Administration: orgs, API keys, phones and dead-letter replay, shared by `outbox-admin` and the local seed.

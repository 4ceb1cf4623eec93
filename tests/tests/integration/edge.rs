//! Idempotency keys and rate limits against moto.

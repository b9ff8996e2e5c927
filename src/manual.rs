//! Manual processing (fetch with a token, finish, retry, locks, stalled check).

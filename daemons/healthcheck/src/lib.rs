//! routerd-healthcheck

//! DNS forwarding for routerd's own lookups.

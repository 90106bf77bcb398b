//! BFD (RFC 5880/5881), single-hop asynchronous mode.

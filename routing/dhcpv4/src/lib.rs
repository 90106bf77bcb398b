//! DHCPv4 client protocol core (RFC 2131, RFC 2132 options, RFC 3442
//! classless static routes), pure: no sockets, no clocks.

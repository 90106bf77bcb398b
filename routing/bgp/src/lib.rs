//! BGP-4 protocol core, pure: no sockets, no clocks.

//! routerd-vrrp: VRRP virtual addresses on raw sockets, fenced by routerd's ownership grants, as a managed daemon

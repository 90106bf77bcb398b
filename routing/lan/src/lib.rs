//! LAN-side IPv6 services routerd runs itself: router advertisements and a
//! stateless DHCPv6 server.

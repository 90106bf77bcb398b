//! VRRPv2/v3 protocol core: packet codec and a pure state machine driven by packets and virtual time

//! Any bytes as one message to the stateless DHCPv6 server (to a multicast
//! or, with the first byte's low bit, a unicast address), with the message
//! type forced to Information-request or Solicit by the second bit so the
//! fuzzer reaches past the type check. Whatever the server answers must
//! parse as the Reply or Advertise it claims to be.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use dhcproto::Decodable;
use dhcproto::v6::{Message, MessageType};
use libfuzzer_sys::fuzz_target;
use routerd_lan::dhcpv6_server::{Outcome, ServerStats, StatelessConfig, StatelessServer};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let config = StatelessConfig {
        server_duid: vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 0x53],
        dns_servers: vec!["fd00:99:1::53".parse().expect("literal")],
        domains: vec!["lab.example".into(), "corp.example".into()],
        sntp_servers: vec!["fd00:99:1::123".parse().expect("literal")],
        info_refresh: Some(Duration::from_secs(3600)),
    };
    let server =
        StatelessServer::new(config, Arc::new(ServerStats::default())).expect("a valid config");
    let mut packet = rest.to_vec();
    if selector & 2 != 0
        && let Some(kind) = packet.first_mut()
    {
        *kind = if selector & 4 != 0 { 1 } else { 11 };
    }
    match server.handle(&packet, selector & 1 == 0) {
        Outcome::Reply(b) => {
            let m = Message::from_bytes(&b).expect("our Reply parses");
            assert_eq!(m.msg_type(), MessageType::Reply);
        }
        Outcome::Advertise(b) => {
            let m = Message::from_bytes(&b).expect("our Advertise parses");
            assert_eq!(m.msg_type(), MessageType::Advertise);
        }
        Outcome::Discard(_) => {}
    }
});

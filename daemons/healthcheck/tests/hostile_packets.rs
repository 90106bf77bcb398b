//! The parsers that read bytes from the network (ICMP echo replies, DNS
//! response headers, HTTP status lines) take anything without panicking.
//! A deterministic generator keeps the corpus the same on every run.

use std::net::Ipv4Addr;

use routerd_healthcheck::probe::dns::parse_header;
use routerd_healthcheck::probe::http::parse_status_line;
use routerd_healthcheck::probe::icmp::{EchoKey, is_echo_reply_v4, is_echo_reply_v6};

struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    fn packet(&mut self, seed_like: &[u8]) -> Vec<u8> {
        let len = usize::from(self.next()) % 96;
        let mut out: Vec<u8> = (0..len).map(|_| self.next()).collect();
        // Half the time start from a plausible packet and corrupt it, which
        // reaches deeper than pure noise.
        if self.next().is_multiple_of(2) {
            out = seed_like.to_vec();
            for _ in 0..(self.next() % 4) {
                if out.is_empty() {
                    break;
                }
                let i = usize::from(self.next()) % out.len();
                out[i] = self.next();
            }
            out.truncate(usize::from(self.next()) % (seed_like.len() + 1));
        }
        out
    }
}

#[test]
fn garbage_from_the_network_never_panics() {
    let key = EchoKey {
        id: 0x1234,
        seq: 7,
        payload: vec![1, 2, 3, 4, 5, 6, 7, 8],
    };
    let v4_reply = {
        let mut p = vec![
            0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1,
        ];
        p.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8]);
        p
    };
    let v6_reply = vec![129, 0, 0, 0, 0x12, 0x34, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8];
    let dns = vec![0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    // The seeds themselves are well-formed, so the corruptions start from
    // packets the parsers accept.
    assert!(is_echo_reply_v6(&v6_reply, &key));
    assert!(parse_header(&dns).is_ok());
    assert_eq!(parse_status_line("HTTP/1.1 200 OK").ok(), Some(200));
    let mut noise = Bytes(0x9e37_79b9_7f4a_7c15);
    for _ in 0..50_000 {
        let p = noise.packet(&v4_reply);
        let _ = is_echo_reply_v4(&p, Ipv4Addr::new(192, 0, 2, 2), &key);
        let p = noise.packet(&v6_reply);
        let _ = is_echo_reply_v6(&p, &key);
        let p = noise.packet(&dns);
        let _ = parse_header(&p);
        let p = noise.packet(b"HTTP/1.1 200 OK");
        let _ = parse_status_line(&String::from_utf8_lossy(&p));
    }
}

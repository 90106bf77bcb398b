use super::*;

fn key() -> EchoKey {
    EchoKey {
        id: 0x1234,
        seq: 7,
        payload: b"abcd".to_vec(),
    }
}

/// An IPv4 header (no options) from `src` carrying `icmp`, as a raw socket
/// hands it over.
fn ipv4_datagram(src: Ipv4Addr, icmp: &[u8]) -> Vec<u8> {
    let total = (20 + icmp.len()) as u16;
    let mut d = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, IPPROTO_ICMP, 0, 0];
    d[2..4].copy_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&src.octets());
    d.extend_from_slice(&[192, 0, 2, 2]);
    d.extend_from_slice(icmp);
    d
}

fn reply_v4(key: &EchoKey) -> Vec<u8> {
    let mut reply = build_echo_request(false, key);
    reply[0] = ECHO_REPLY_V4;
    reply[2..4].copy_from_slice(&[0, 0]);
    let sum = checksum(&reply);
    reply[2..4].copy_from_slice(&sum.to_be_bytes());
    reply
}

#[test]
fn checksum_matches_rfc1071_example() {
    // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (one's
    // complement sum), so the checksum is its complement.
    assert_eq!(
        checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        !0xddf2
    );
    // An odd length pads with a zero byte.
    assert_eq!(checksum(&[0x01]), !0x0100);
}

#[test]
fn echo_request_v4_has_valid_checksum() {
    let packet = build_echo_request(false, &key());
    assert_eq!(
        packet,
        [
            8, 0, 0x20, 0xfe, 0x12, 0x34, 0x00, 0x07, b'a', b'b', b'c', b'd'
        ]
    );
    assert_eq!(checksum(&packet), 0);
}

#[test]
fn echo_request_v6_leaves_checksum_to_the_kernel() {
    let packet = build_echo_request(true, &key());
    assert_eq!(&packet[..8], &[128, 0, 0, 0, 0x12, 0x34, 0, 7]);
    assert_eq!(&packet[8..], b"abcd");
}

#[test]
fn v4_reply_is_matched() {
    let from = Ipv4Addr::new(192, 0, 2, 1);
    let datagram = ipv4_datagram(from, &reply_v4(&key()));
    assert!(is_echo_reply_v4(&datagram, from, &key()));
}

#[test]
fn v4_replies_that_are_not_ours_are_ignored() {
    let from = Ipv4Addr::new(192, 0, 2, 1);
    let good = reply_v4(&key());

    let other_source = ipv4_datagram(Ipv4Addr::new(192, 0, 2, 9), &good);
    assert!(!is_echo_reply_v4(&other_source, from, &key()));

    let mut other_seq = key();
    other_seq.seq = 8;
    assert!(!is_echo_reply_v4(
        &ipv4_datagram(from, &reply_v4(&other_seq)),
        from,
        &key()
    ));

    let mut other_payload = key();
    other_payload.payload = b"abce".to_vec();
    assert!(!is_echo_reply_v4(
        &ipv4_datagram(from, &reply_v4(&other_payload)),
        from,
        &key()
    ));

    let mut corrupt = good.clone();
    corrupt[9] ^= 0xff;
    assert!(!is_echo_reply_v4(
        &ipv4_datagram(from, &corrupt),
        from,
        &key()
    ));

    // Our own request looping back is not a reply.
    let request = build_echo_request(false, &key());
    assert!(!is_echo_reply_v4(
        &ipv4_datagram(from, &request),
        from,
        &key()
    ));

    assert!(!is_echo_reply_v4(&[], from, &key()));
    assert!(!is_echo_reply_v4(&[0x45, 0, 0], from, &key()));
}

#[test]
fn v4_header_with_options_is_skipped() {
    let from = Ipv4Addr::new(192, 0, 2, 1);
    let icmp = reply_v4(&key());
    let mut d = ipv4_datagram(from, &icmp);
    // IHL 6: four bytes of options (NOPs) after the fixed header.
    d[0] = 0x46;
    d.splice(20..20, [1, 1, 1, 1]);
    let total = d.len() as u16;
    d[2..4].copy_from_slice(&total.to_be_bytes());
    assert!(is_echo_reply_v4(&d, from, &key()));
}

#[test]
fn v6_reply_is_matched_and_others_ignored() {
    let mut reply = build_echo_request(true, &key());
    reply[0] = ECHO_REPLY_V6;
    assert!(is_echo_reply_v6(&reply, &key()));
    let request = build_echo_request(true, &key());
    assert!(!is_echo_reply_v6(&request, &key()));
    assert!(!is_echo_reply_v6(&reply[..6], &key()));
}

#[test]
fn keys_differ_between_probes() {
    let a = next_key();
    let b = next_key();
    assert_eq!(a.id, b.id);
    assert_ne!(a.seq, b.seq);
    assert_ne!(a.payload, b.payload);
}

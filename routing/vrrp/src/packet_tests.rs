//! Raw bytes paired with the decoded advertisement; the checksums were computed
//! independently (RFC 1071 over the RFC 9568 pseudo-header).

use super::*;

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

#[test]
fn v3_ipv4_bytes_and_struct_agree() {
    let bytes = [0x31, 51, 200, 1, 0, 10, 0x10, 0x6d, 10, 99, 0, 254];
    let advert = Advert {
        version: Version::V3,
        vrid: 51,
        priority: 200,
        interval_cs: 10,
        addresses: vec![v4("10.99.0.254")],
        auth: Auth::None,
    };
    let (src, dst) = (v4("10.99.0.1"), v4("224.0.0.18"));
    assert_eq!(Advert::decode(&bytes, src, dst), Ok(advert.clone()));
    assert_eq!(advert.encode(src, dst), bytes);
    // Another source changes the pseudo-header, so the checksum no longer holds.
    assert_eq!(
        Advert::decode(&bytes, v4("10.99.0.2"), dst),
        Err(ParseError::BadChecksum)
    );
}

#[test]
fn v2_simple_password_bytes_and_struct_agree() {
    let mut bytes = vec![0x21, 51, 100, 1, 1, 1, 0x32, 0x1d, 10, 99, 0, 254];
    bytes.extend_from_slice(b"secret\0\0");
    let advert = Advert {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        addresses: vec![v4("10.99.0.254")],
        auth: Auth::simple("secret"),
    };
    // v2 has no pseudo-header: any addresses verify.
    let (src, dst) = (v4("192.0.2.1"), v4("224.0.0.18"));
    assert_eq!(Advert::decode(&bytes, src, dst), Ok(advert.clone()));
    assert_eq!(advert.encode(src, dst), bytes);
}

#[test]
fn v3_ipv6_bytes_and_struct_agree() {
    let mut bytes = vec![0x31, 52, 150, 1, 0, 100, 0x38, 0xd9];
    bytes.extend_from_slice(&"fe80::99:254".parse::<Ipv6Addr>().unwrap().octets());
    let advert = Advert {
        version: Version::V3,
        vrid: 52,
        priority: 150,
        interval_cs: 100,
        addresses: vec![v6("fe80::99:254")],
        auth: Auth::None,
    };
    let (src, dst) = (v6("fe80::1"), v6("ff02::12"));
    assert_eq!(Advert::decode(&bytes, src, dst), Ok(advert.clone()));
    assert_eq!(advert.encode(src, dst), bytes);
}

#[test]
fn malformed_headers_have_precise_errors() {
    let (src, dst) = (v4("10.0.0.1"), v4("224.0.0.18"));
    assert_eq!(
        Advert::decode(&[0x31, 1, 2], src, dst),
        Err(ParseError::Truncated { len: 3 })
    );
    assert_eq!(
        Advert::decode(&[0x41, 1, 2, 0, 0, 1, 0, 0], src, dst),
        Err(ParseError::BadVersion(4))
    );
    assert_eq!(
        Advert::decode(&[0x32, 1, 2, 0, 0, 1, 0, 0], src, dst),
        Err(ParseError::BadType(2))
    );
    assert_eq!(
        Advert::decode(&[0x31, 1, 2, 2, 0, 1, 0, 0, 1, 2, 3, 4], src, dst),
        Err(ParseError::CountMismatch { count: 2, len: 12 })
    );
    assert_eq!(
        Advert::decode(&[0x21, 1, 2, 0, 0, 1, 0, 0], v6("fe80::1"), v6("ff02::12")),
        Err(ParseError::Family)
    );
    let zero = Advert {
        version: Version::V3,
        vrid: 1,
        priority: 1,
        interval_cs: 0,
        addresses: vec![],
        auth: Auth::None,
    }
    .encode(src, dst);
    assert_eq!(
        Advert::decode(&zero, src, dst),
        Err(ParseError::ZeroInterval)
    );
}

#[test]
fn encode_leaves_out_other_family_addresses() {
    let advert = Advert {
        version: Version::V3,
        vrid: 9,
        priority: 100,
        interval_cs: 100,
        addresses: vec![v4("10.0.0.9"), v6("fe80::9")],
        auth: Auth::None,
    };
    let (src, dst) = (v6("fe80::1"), v6("ff02::12"));
    let decoded = Advert::decode(&advert.encode(src, dst), src, dst).unwrap();
    assert_eq!(decoded.addresses, vec![v6("fe80::9")]);
}

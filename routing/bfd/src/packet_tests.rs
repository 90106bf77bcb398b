use super::*;
use crate::error::DropReason;
use crate::jitter::SeededJitter;

/// Down, no diag, mult 3, my 1, your 0, 1 s / 1 s / 0: a typical first packet.
const FIRST: [u8; 24] = [
    0x20, 0x40, 3, 24, //
    0, 0, 0, 1, //
    0, 0, 0, 0, //
    0x00, 0x0f, 0x42, 0x40, //
    0x00, 0x0f, 0x42, 0x40, //
    0, 0, 0, 0,
];

fn first() -> ControlPacket {
    ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discr: 1,
        your_discr: 0,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 1_000_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

#[test]
fn decodes_and_encodes_the_mandatory_section() {
    assert_eq!(ControlPacket::decode(&FIRST), Ok(first()));
    assert_eq!(first().encode(), FIRST.to_vec());
}

#[test]
fn every_flag_and_field_round_trips() {
    let p = ControlPacket {
        diag: Diag::ControlDetectionTimeExpired,
        state: State::Up,
        poll: true,
        final_: false,
        control_plane_independent: true,
        demand: true,
        detect_mult: 5,
        my_discr: 0xdead_beef,
        your_discr: 0x0102_0304,
        desired_min_tx_us: 50_000,
        required_min_rx_us: 60_000,
        required_min_echo_rx_us: 70_000,
        auth: None,
    };
    let bytes = p.encode();
    assert_eq!(bytes[0], 0x21, "version 1, diag 1");
    assert_eq!(bytes[1], 0xc0 | 0x20 | 0x08 | 0x02, "Up, P, C, D");
    assert_eq!(ControlPacket::decode(&bytes), Ok(p.clone()));
    let f = ControlPacket {
        poll: false,
        final_: true,
        ..p
    };
    assert_eq!(f.encode()[1], 0xc0 | 0x10 | 0x08 | 0x02);
    assert_eq!(ControlPacket::decode(&f.encode()), Ok(f));
}

#[test]
fn every_diag_code_round_trips() {
    for v in 0..32u8 {
        let d = Diag::from_wire(v);
        assert_eq!(d.to_wire(), v);
        let p = ControlPacket { diag: d, ..first() };
        assert_eq!(ControlPacket::decode(&p.encode()).map(|q| q.diag), Ok(d));
    }
    assert_eq!(Diag::from_wire(7), Diag::AdministrativelyDown);
    assert_eq!(Diag::from_wire(9), Diag::Reserved(9));
}

#[test]
fn trailing_octets_beyond_length_are_ignored() {
    let mut b = FIRST.to_vec();
    b.extend_from_slice(&[0xff; 8]);
    assert_eq!(ControlPacket::decode(&b), Ok(first()));
}

#[test]
fn reception_checks_of_6_8_6_are_typed_errors() {
    let with = |f: &dyn Fn(&mut [u8; 24])| {
        let mut b = FIRST;
        f(&mut b);
        ControlPacket::decode(&b)
    };
    assert_eq!(
        ControlPacket::decode(&FIRST[..23]),
        Err(ParseError::Truncated { len: 23 })
    );
    assert_eq!(with(&|b| b[0] = 0x40), Err(ParseError::Version(2)));
    assert_eq!(with(&|b| b[0] = 0x00), Err(ParseError::Version(0)));
    assert_eq!(
        with(&|b| b[3] = 23),
        Err(ParseError::Length {
            length: 23,
            received: 24
        })
    );
    assert_eq!(
        with(&|b| b[3] = 25),
        Err(ParseError::Length {
            length: 25,
            received: 24
        })
    );
    assert_eq!(with(&|b| b[2] = 0), Err(ParseError::ZeroDetectMult));
    assert_eq!(with(&|b| b[1] |= 0x01), Err(ParseError::Multipoint));
    assert_eq!(with(&|b| b[7] = 0), Err(ParseError::ZeroMyDiscriminator));
    // Your Discriminator 0 is fine in Down and AdminDown, not in Init or Up.
    assert!(with(&|b| b[1] = 0x00).is_ok());
    assert_eq!(
        with(&|b| b[1] = 0x80),
        Err(ParseError::ZeroYourDiscriminator(State::Init))
    );
    assert_eq!(
        with(&|b| b[1] = 0xc0),
        Err(ParseError::ZeroYourDiscriminator(State::Up))
    );
    assert!(
        with(&|b| {
            b[1] = 0xc0;
            b[11] = 9;
        })
        .is_ok()
    );
    // A bit with a length of 24: no room for the section.
    assert_eq!(
        with(&|b| b[1] |= 0x04),
        Err(ParseError::Length {
            length: 24,
            received: 24
        })
    );
    assert_eq!(
        ParseError::ZeroYourDiscriminator(State::Up).drop_reason(),
        DropReason::ZeroYourDiscriminator
    );
}

fn with_auth(section: &[u8]) -> Vec<u8> {
    let mut b = FIRST.to_vec();
    b[1] |= 0x04;
    b.extend_from_slice(section);
    b[3] = b.len() as u8;
    b
}

#[test]
fn simple_password_section() {
    let b = with_auth(&[1, 9, 5, b's', b'e', b'c', b'r', b'e', b't']);
    let p = ControlPacket::decode(&b).expect("valid");
    assert_eq!(
        p.auth,
        Some(Auth::SimplePassword {
            key_id: 5,
            password: b"secret".to_vec()
        })
    );
    assert_eq!(p.encode(), b);
    // Empty and 17-octet passwords are invalid (4.2).
    assert_eq!(
        ControlPacket::decode(&with_auth(&[1, 3, 5])),
        Err(ParseError::AuthLength {
            auth_type: 1,
            len: 3
        })
    );
    let mut long = vec![1, 20, 5];
    long.extend_from_slice(&[b'x'; 17]);
    assert_eq!(
        ControlPacket::decode(&with_auth(&long)),
        Err(ParseError::AuthLength {
            auth_type: 1,
            len: 20
        })
    );
}

#[test]
fn keyed_md5_and_sha1_sections_are_parsed() {
    let mut md5 = vec![2, 24, 1, 0, 0, 0, 0, 42];
    md5.extend_from_slice(&[0xaa; 16]);
    let p = ControlPacket::decode(&with_auth(&md5)).expect("valid");
    assert_eq!(
        p.auth,
        Some(Auth::KeyedMd5 {
            meticulous: false,
            key_id: 1,
            sequence: 42,
            digest: [0xaa; 16]
        })
    );
    assert_eq!(
        p.auth.as_ref().map(Auth::auth_type),
        Some(AuthType::KeyedMd5)
    );
    assert_eq!(p.encode(), with_auth(&md5));

    let mut sha = vec![5, 28, 3, 0, 0, 0, 1, 0];
    sha.extend_from_slice(&[0x55; 20]);
    let p = ControlPacket::decode(&with_auth(&sha)).expect("valid");
    assert_eq!(
        p.auth,
        Some(Auth::KeyedSha1 {
            meticulous: true,
            key_id: 3,
            sequence: 256,
            hash: [0x55; 20]
        })
    );
    assert_eq!(p.encode(), with_auth(&sha));

    // Wrong lengths for the type, an unknown type, a section longer than the packet.
    md5[1] = 23;
    md5.pop();
    assert!(matches!(
        ControlPacket::decode(&with_auth(&md5)),
        Err(ParseError::AuthLength { auth_type: 2, .. })
    ));
    assert_eq!(
        ControlPacket::decode(&with_auth(&[6, 4, 0, 0])),
        Err(ParseError::UnknownAuthType(6))
    );
    assert!(matches!(
        ControlPacket::decode(&with_auth(&[1, 40, 1, b'a'])),
        Err(ParseError::AuthLength { len: 40, .. })
    ));
    assert_eq!(
        ControlPacket::decode(&with_auth(&[1, 1])),
        Err(ParseError::AuthLength {
            auth_type: 1,
            len: 1
        })
    );
}

/// Hostile input: every truncation and millions of random and mutated
/// packets decode to a value or an error, never a panic, and whatever decodes
/// re-encodes to something that decodes to the same value.
#[test]
fn hostile_input_never_panics() {
    let mut rng = SeededJitter::new(0x5eed);
    let mut seeds: Vec<Vec<u8>> = vec![
        FIRST.to_vec(),
        with_auth(&[1, 9, 5, b's', b'e', b'c', b'r', b'e', b't']),
        with_auth(&{
            let mut v = vec![4, 28, 1, 0, 0, 0, 0, 1];
            v.extend_from_slice(&[0; 20]);
            v
        }),
    ];
    for s in seeds.clone() {
        for n in 0..=s.len() {
            let _ = ControlPacket::decode(&s[..n]);
        }
    }
    let mut ok = 0u32;
    for i in 0..200_000u32 {
        let mut b = if i % 2 == 0 {
            let n = (rng.next_u64() % 80) as usize;
            (0..n).map(|_| rng.next_u64() as u8).collect()
        } else {
            seeds[(rng.next_u64() % seeds.len() as u64) as usize].clone()
        };
        if !b.is_empty() {
            for _ in 0..(rng.next_u64() % 4) {
                let at = (rng.next_u64() % b.len() as u64) as usize;
                b[at] ^= rng.next_u64() as u8;
            }
            // Keep version and length plausible half of the time, so the
            // deeper checks are reached and not just the first two.
            if i % 4 == 1 {
                b[0] = (b[0] & 0x1f) | 0x20;
                if b.len() >= 4 {
                    b[3] = b.len() as u8;
                }
            }
        }
        if let Ok(p) = ControlPacket::decode(&b) {
            ok += 1;
            let again = ControlPacket::decode(&p.encode());
            assert_eq!(again.as_ref(), Ok(&p), "re-encoding {b:02x?}");
            if seeds.len() < 64 {
                seeds.push(b);
            }
        }
    }
    assert!(
        ok > 1000,
        "only {ok} inputs decoded: the generator misses the parser"
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex literal"))
        .collect()
}

/// Packets captured from BIRD 2.0.12 and FRR 8.4.4 (bfdd) in the interop
/// tests (tcpdump on the peer's veth; TTL 255, TOS 0xc0), each with the
/// struct it must decode to and re-encode from.
#[test]
fn captured_bird_and_frr_packets() {
    let peer = |diag, state, my: u32, your: u32, tx: u32, rx: u32, echo: u32| ControlPacket {
        diag,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discr: my,
        your_discr: your,
        desired_min_tx_us: tx,
        required_min_rx_us: rx,
        required_min_echo_rx_us: echo,
        auth: None,
    };
    let (bird, us_b) = (0x3bc0_e49c, 0x09fb_b4c5);
    let (frr, us_f) = (0x80c2_916e, 0x96e4_3fcb);
    let cases = [
        // BIRD: Init while its TX is still at the 1 s floor.
        (
            "208003183bc0e49c09fbb4c5000f42400000c35000000000",
            peer(Diag::None, State::Init, bird, us_b, 1_000_000, 50_000, 0),
        ),
        // BIRD: Up, polling for its 50 ms rate; our Final; steady Up.
        (
            "20e003183bc0e49c09fbb4c50000c3500000c35000000000",
            ControlPacket {
                poll: true,
                ..peer(Diag::None, State::Up, bird, us_b, 50_000, 50_000, 0)
            },
        ),
        (
            "20d003183bc0e49c09fbb4c50000c3500000c35000000000",
            ControlPacket {
                final_: true,
                ..peer(Diag::None, State::Up, bird, us_b, 50_000, 50_000, 0)
            },
        ),
        (
            "20c003183bc0e49c09fbb4c50000c3500000c35000000000",
            peer(Diag::None, State::Up, bird, us_b, 50_000, 50_000, 0),
        ),
        // BIRD after the silent cut: Down, diag 1, our discriminator forgotten.
        (
            "214003183bc0e49c00000000000f42400000c35000000000",
            peer(
                Diag::ControlDetectionTimeExpired,
                State::Down,
                bird,
                0,
                1_000_000,
                50_000,
                0,
            ),
        ),
        // FRR: Init at 1 s / 1 s, and it offers Echo reception at 50 ms.
        (
            "2080031880c2916e96e43fcb000f4240000f42400000c350",
            peer(
                Diag::None,
                State::Init,
                frr,
                us_f,
                1_000_000,
                1_000_000,
                50_000,
            ),
        ),
        (
            "20e0031880c2916e96e43fcb0000c3500000c3500000c350",
            ControlPacket {
                poll: true,
                ..peer(Diag::None, State::Up, frr, us_f, 50_000, 50_000, 50_000)
            },
        ),
        (
            "20d0031880c2916e96e43fcb0000c3500000c3500000c350",
            ControlPacket {
                final_: true,
                ..peer(Diag::None, State::Up, frr, us_f, 50_000, 50_000, 50_000)
            },
        ),
        // FRR's first Down after the cut still carries its fast timers.
        (
            "2140031880c2916e000000000000c3500000c3500000c350",
            peer(
                Diag::ControlDetectionTimeExpired,
                State::Down,
                frr,
                0,
                50_000,
                50_000,
                50_000,
            ),
        ),
        // FRR keeps diag 1 in Init on the way back up.
        (
            "2180031880c2916e96e43fcb000f4240000f42400000c350",
            peer(
                Diag::ControlDetectionTimeExpired,
                State::Init,
                frr,
                us_f,
                1_000_000,
                1_000_000,
                50_000,
            ),
        ),
    ];
    for (bytes, want) in cases {
        let b = hex(bytes);
        assert_eq!(ControlPacket::decode(&b).as_ref(), Ok(&want), "{bytes}");
        assert_eq!(want.encode(), b, "{bytes}");
    }
}

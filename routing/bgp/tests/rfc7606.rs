//! RFC 7606 classification, attribute by attribute: each malformation is
//! built by hand and the decoder's verdict checked against the section that
//! prescribes it.

use routerd_bgp_core::wire::{
    AfiSafi, AttrType, ErrorAction, Frame, Message, ProblemKind, SessionParams, Update,
    UpdateError, UpdateSubcode,
};

use ErrorAction::{AfiSafiDisable, AttributeDiscard, SessionReset, TreatAsWithdraw};

const ORIGIN: &[u8] = &[0x40, 0x01, 0x01, 0x00];
const AS_PATH: &[u8] = &[0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9];
const NEXT_HOP: &[u8] = &[0x40, 0x03, 0x04, 192, 0, 2, 1];
const NLRI: &[u8] = &[0x08, 10];
/// MP_REACH_NLRI for IPv6 unicast: next hop 2001:db8::1, NLRI 2001:db8::/32.
const MP_REACH_V6: &[u8] = &[
    0x80, 0x0e, 0x1a, 0x00, 0x02, 0x01, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0x00, 0x20, 0x20, 0x01, 0x0d, 0xb8,
];

fn ebgp() -> SessionParams {
    SessionParams::new(true, true)
}

fn ibgp() -> SessionParams {
    SessionParams::new(true, false)
}

fn old() -> SessionParams {
    SessionParams::new(false, true)
}

fn message(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(withdrawn.len()).expect("fits").to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(nlri);
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(body.len() + 19).expect("fits").to_be_bytes());
    m.push(2);
    m.extend(body);
    m
}

fn run<'a>(raw: &'a [u8], params: &SessionParams) -> Result<Update<'a>, UpdateError> {
    let frame = Frame::parse(raw, 65535).expect("header");
    match frame.decode(params) {
        Ok(Message::Update(u)) => Ok(u),
        Err(routerd_bgp_core::wire::DecodeError::Update(e)) => Err(e),
        other => panic!("unexpected {other:?}"),
    }
}

/// Decodes an UPDATE with the three mandatory attributes where `replace`
/// says (index 0, 1, 2: ORIGIN, AS_PATH, NEXT_HOP), plus `extra`, and
/// returns the strongest action and the problem kinds.
fn verdict(
    params: SessionParams,
    replace: &[(usize, &[u8])],
    extra: &[&[u8]],
) -> (Option<ErrorAction>, Vec<ProblemKind>) {
    let mut attrs: Vec<&[u8]> = vec![ORIGIN, AS_PATH, NEXT_HOP];
    for &(i, a) in replace {
        attrs[i] = a;
    }
    attrs.extend_from_slice(extra);
    let raw = message(&[], &attrs, NLRI);
    match run(&raw, &params) {
        Ok(u) => {
            // Under treat-as-withdraw nothing is installed and the NLRI is withdrawn.
            if !u.announces() {
                assert_eq!(u.reachable().count(), 0);
                assert!(u.unreachable().count() >= 1);
            }
            (u.action(), u.problems.into_iter().map(|p| p.kind).collect())
        }
        Err(e) => (
            Some(SessionReset),
            e.problems.into_iter().map(|p| p.kind).collect(),
        ),
    }
}

fn action(
    params: SessionParams,
    replace: &[(usize, &[u8])],
    extra: &[&[u8]],
) -> Option<ErrorAction> {
    verdict(params, replace, extra).0
}

#[test]
fn clean_update_has_no_problems() {
    assert_eq!(verdict(ebgp(), &[], &[]), (None, vec![]));
}

#[test]
fn s7_1_origin() {
    assert_eq!(
        action(ebgp(), &[(0, &[0x40, 0x01, 0x02, 0x00, 0x00])], &[]),
        Some(TreatAsWithdraw)
    );
    assert_eq!(
        action(ebgp(), &[(0, &[0x40, 0x01, 0x00])], &[]),
        Some(TreatAsWithdraw)
    );
    let (a, kinds) = verdict(ebgp(), &[(0, &[0x40, 0x01, 0x01, 0x03])], &[]);
    assert_eq!(
        (a, kinds),
        (Some(TreatAsWithdraw), vec![ProblemKind::InvalidOrigin(3)])
    );
}

#[test]
fn s7_2_as_path() {
    // Overrun, underrun, zero-length segment, unknown segment type.
    for bad in [
        &[0x40, 0x02, 0x06, 0x02, 0x02, 0x00, 0x00, 0xfd, 0xe9][..],
        &[0x40, 0x02, 0x07, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe9, 0x02],
        &[0x40, 0x02, 0x02, 0x02, 0x00],
        &[0x40, 0x02, 0x06, 0x07, 0x01, 0x00, 0x00, 0xfd, 0xe9],
    ] {
        assert_eq!(
            action(ebgp(), &[(1, bad)], &[]),
            Some(TreatAsWithdraw),
            "{bad:?}"
        );
    }
    // A 4-octet path decoded as 2-octet is just another malformation.
    assert_eq!(action(old(), &[], &[]), Some(TreatAsWithdraw));
    // RFC 5065 §5: confederation segments from outside are malformed.
    let confed: &[u8] = &[
        0x40, 0x02, 0x0c, 0x03, 0x01, 0, 0, 0xfc, 0, 0x02, 0x01, 0, 0, 0xfd, 0xe9,
    ];
    assert_eq!(
        verdict(ebgp(), &[(1, confed)], &[]),
        (Some(TreatAsWithdraw), vec![ProblemKind::ConfedFromExternal])
    );
    assert_eq!(action(ibgp(), &[(1, confed)], &[]), None);
}

#[test]
fn s7_3_next_hop() {
    assert_eq!(
        action(ebgp(), &[(2, &[0x40, 0x03, 0x05, 192, 0, 2, 1, 0])], &[]),
        Some(TreatAsWithdraw)
    );
    for bad in [[0, 0, 0, 0], [224, 0, 0, 5], [255, 255, 255, 255]] {
        let a = [0x40, 0x03, 0x04, bad[0], bad[1], bad[2], bad[3]];
        assert_eq!(
            action(ebgp(), &[(2, &a)], &[]),
            Some(TreatAsWithdraw),
            "{bad:?}"
        );
    }
}

#[test]
fn s7_4_med() {
    assert_eq!(
        action(ebgp(), &[], &[&[0x80, 0x04, 0x04, 0, 0, 0, 1]]),
        None
    );
    assert_eq!(
        action(ebgp(), &[], &[&[0x80, 0x04, 0x03, 0, 0, 1]]),
        Some(TreatAsWithdraw)
    );
}

#[test]
fn s7_5_local_pref() {
    let good: &[u8] = &[0x40, 0x05, 0x04, 0, 0, 0, 100];
    let bad: &[u8] = &[0x40, 0x05, 0x03, 0, 0, 100];
    assert_eq!(
        verdict(ebgp(), &[], &[good]),
        (Some(AttributeDiscard), vec![ProblemKind::FromExternalPeer])
    );
    assert_eq!(action(ebgp(), &[], &[bad]), Some(AttributeDiscard));
    assert_eq!(action(ibgp(), &[], &[good]), None);
    assert_eq!(action(ibgp(), &[], &[bad]), Some(TreatAsWithdraw));
}

#[test]
fn s7_6_atomic_aggregate() {
    assert_eq!(action(ebgp(), &[], &[&[0x40, 0x06, 0x00]]), None);
    assert_eq!(
        action(ebgp(), &[], &[&[0x40, 0x06, 0x01, 0x00]]),
        Some(AttributeDiscard)
    );
}

#[test]
fn s7_7_aggregator() {
    let six: &[u8] = &[0xc0, 0x07, 0x06, 0xfd, 0xe9, 10, 0, 0, 1];
    let eight: &[u8] = &[0xc0, 0x07, 0x08, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1];
    assert_eq!(action(ebgp(), &[], &[eight]), None);
    assert_eq!(action(ebgp(), &[], &[six]), Some(AttributeDiscard));
    let old_path: &[u8] = &[0x40, 0x02, 0x04, 0x02, 0x01, 0xfd, 0xe9];
    assert_eq!(action(old(), &[(1, old_path)], &[six]), None);
    assert_eq!(
        action(old(), &[(1, old_path)], &[eight]),
        Some(AttributeDiscard)
    );
}

#[test]
fn s7_8_communities() {
    assert_eq!(
        action(ebgp(), &[], &[&[0xc0, 0x08, 0x04, 0xfd, 0xe9, 0, 1]]),
        None
    );
    assert_eq!(
        action(ebgp(), &[], &[&[0xc0, 0x08, 0x00]]),
        Some(TreatAsWithdraw)
    );
    assert_eq!(
        action(ebgp(), &[], &[&[0xc0, 0x08, 0x05, 0xfd, 0xe9, 0, 1, 2]]),
        Some(TreatAsWithdraw)
    );
}

#[test]
fn s7_9_and_7_10_route_reflection() {
    let oid: &[u8] = &[0x80, 0x09, 0x04, 10, 0, 0, 1];
    let bad_oid: &[u8] = &[0x80, 0x09, 0x05, 10, 0, 0, 1, 0];
    let cl: &[u8] = &[0x80, 0x0a, 0x04, 10, 0, 0, 1];
    let bad_cl: &[u8] = &[0x80, 0x0a, 0x06, 10, 0, 0, 1, 0, 0];
    let empty_cl: &[u8] = &[0x80, 0x0a, 0x00];
    assert_eq!(action(ibgp(), &[], &[oid, cl]), None);
    assert_eq!(action(ebgp(), &[], &[oid]), Some(AttributeDiscard));
    assert_eq!(action(ebgp(), &[], &[bad_cl]), Some(AttributeDiscard));
    assert_eq!(action(ibgp(), &[], &[bad_oid]), Some(TreatAsWithdraw));
    assert_eq!(action(ibgp(), &[], &[bad_cl]), Some(TreatAsWithdraw));
    assert_eq!(action(ibgp(), &[], &[empty_cl]), Some(TreatAsWithdraw));
}

#[test]
fn s7_14_extended_and_rfc8092_large_communities() {
    assert_eq!(
        action(
            ebgp(),
            &[],
            &[&[0xc0, 0x10, 0x08, 0, 2, 0xfd, 0xe9, 0, 0, 0, 1]]
        ),
        None
    );
    // An unrecognised extended community type is not an error (§7.14).
    assert_eq!(
        action(
            ebgp(),
            &[],
            &[&[0xc0, 0x10, 0x08, 0x8f, 0x77, 1, 2, 3, 4, 5, 6]]
        ),
        None
    );
    assert_eq!(
        action(
            ebgp(),
            &[],
            &[&[0xc0, 0x10, 0x07, 0, 2, 0xfd, 0xe9, 0, 0, 1]]
        ),
        Some(TreatAsWithdraw)
    );
    let large: &[u8] = &[0xc0, 0x20, 0x0c, 0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 2];
    assert_eq!(action(ebgp(), &[], &[large]), None);
    let short: &[u8] = &[0xc0, 0x20, 0x0b, 0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0];
    assert_eq!(action(ebgp(), &[], &[short]), Some(TreatAsWithdraw));
    assert_eq!(
        action(ebgp(), &[], &[&[0xc0, 0x20, 0x00]]),
        Some(TreatAsWithdraw)
    );
}

#[test]
fn rfc6793_as4_attributes() {
    let old_path: &[u8] = &[0x40, 0x02, 0x04, 0x02, 0x01, 0x5b, 0xa0];
    let as4_path: &[u8] = &[0xc0, 0x11, 0x06, 0x02, 0x01, 0xfa, 0x56, 0xea, 0x00];
    let bad_as4_path: &[u8] = &[0xc0, 0x11, 0x05, 0x02, 0x01, 0xfa, 0x56, 0xea];
    let confed_as4: &[u8] = &[
        0xc0, 0x11, 0x0c, 0x03, 0x01, 0, 0, 0xfc, 0, 0x02, 0x01, 0xfa, 0x56, 0xea, 0x00,
    ];
    let as4_agg: &[u8] = &[0xc0, 0x12, 0x08, 0xfa, 0x56, 0xea, 0x00, 10, 0, 0, 1];
    let bad_as4_agg: &[u8] = &[0xc0, 0x12, 0x07, 0xfa, 0x56, 0xea, 0x00, 10, 0, 0];
    assert_eq!(action(old(), &[(1, old_path)], &[as4_path, as4_agg]), None);
    assert_eq!(
        action(old(), &[(1, old_path)], &[bad_as4_path]),
        Some(AttributeDiscard)
    );
    assert_eq!(
        action(old(), &[(1, old_path)], &[bad_as4_agg]),
        Some(AttributeDiscard)
    );
    assert_eq!(
        verdict(old(), &[(1, old_path)], &[confed_as4]),
        (Some(AttributeDiscard), vec![ProblemKind::ConfedInAs4Path])
    );
    assert_eq!(
        verdict(ebgp(), &[], &[as4_path]),
        (Some(AttributeDiscard), vec![ProblemKind::As4FromNewSpeaker])
    );
}

#[test]
fn s3c_attribute_flags() {
    // ORIGIN marked optional: treat-as-withdraw.
    assert_eq!(
        verdict(ebgp(), &[(0, &[0xc0, 0x01, 0x01, 0x00])], &[]),
        (Some(TreatAsWithdraw), vec![ProblemKind::Flags(0xc0)])
    );
    // COMMUNITIES marked well-known: treat-as-withdraw.
    assert_eq!(
        action(ebgp(), &[], &[&[0x40, 0x08, 0x04, 0, 0, 0, 1]]),
        Some(TreatAsWithdraw)
    );
    // AGGREGATOR and ATOMIC_AGGREGATE flag errors: attribute discard (§3f).
    assert_eq!(
        action(ebgp(), &[], &[&[0x80, 0x07, 0x08, 0, 0, 0, 1, 10, 0, 0, 1]]),
        Some(AttributeDiscard)
    );
    assert_eq!(
        action(ebgp(), &[], &[&[0xc0, 0x06, 0x00]]),
        Some(AttributeDiscard)
    );
    // The Partial bit and the unused low bits are not checked.
    assert_eq!(
        action(ebgp(), &[], &[&[0xe7, 0x08, 0x04, 0, 0, 0, 1]]),
        None
    );
    // MP_REACH_NLRI marked transitive: AFI/SAFI disable (§5.3).
    let mut mp = MP_REACH_V6.to_vec();
    mp[0] = 0xc0;
    let raw = message(&[], &[ORIGIN, AS_PATH, &mp], &[]);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.action(), Some(AfiSafiDisable));
    assert_eq!(
        u.disabled_families().collect::<Vec<_>>(),
        vec![AfiSafi::IPV6_UNICAST]
    );
}

#[test]
fn s3d_missing_mandatory_attributes() {
    for missing in 0..3 {
        let mut attrs: Vec<&[u8]> = vec![ORIGIN, AS_PATH, NEXT_HOP];
        attrs.remove(missing);
        let raw = message(&[], &attrs, NLRI);
        let u = run(&raw, &ebgp()).expect("not a reset");
        assert_eq!(u.action(), Some(TreatAsWithdraw));
        let p = &u.problems[0];
        assert_eq!(p.kind, ProblemKind::Missing);
        // The NOTIFICATION, were it sent, carries the type code (RFC 4271 §6.3).
        let n = p.notification();
        assert_eq!(n.data, vec![[1u8, 2, 3][missing]]);
        assert_eq!(
            n.code,
            routerd_bgp_core::wire::ErrorCode::Update(UpdateSubcode::MissingWellKnownAttribute)
        );
    }
    // NEXT_HOP is not needed when only MP_REACH_NLRI announces (RFC 4760 §3).
    let raw = message(&[], &[MP_REACH_V6, ORIGIN, AS_PATH], &[]);
    let u = run(&raw, &ebgp()).expect("valid");
    assert_eq!(u.action(), None);
    assert_eq!(u.reachable().count(), 1);
    // ...but ORIGIN is.
    let raw = message(&[], &[MP_REACH_V6, AS_PATH], &[]);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.action(), Some(TreatAsWithdraw));
    assert_eq!(u.reachable().count(), 0);
    assert_eq!(
        u.unreachable().map(|n| n.afi_safi()).collect::<Vec<_>>(),
        vec![AfiSafi::IPV6_UNICAST]
    );
}

#[test]
fn s3g_duplicates() {
    let other_origin: &[u8] = &[0x40, 0x01, 0x01, 0x02];
    let raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP, other_origin], NLRI);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.action(), Some(AttributeDiscard));
    assert_eq!(u.problems[0].kind, ProblemKind::Duplicate);
    assert_eq!(u.attrs.origin, Some(routerd_bgp_core::wire::Origin::Igp));
    // A repeated MP attribute resets the session with Malformed Attribute List.
    let raw = message(&[], &[MP_REACH_V6, ORIGIN, AS_PATH, MP_REACH_V6], &[]);
    let err = run(&raw, &ebgp()).expect_err("reset");
    assert_eq!(err.problems[0].kind, ProblemKind::DuplicateMp);
    assert_eq!(err.notification.code.to_wire(), (3, 1));
    assert_eq!(err.notification.data, MP_REACH_V6.to_vec());
}

#[test]
fn s3h_strongest_action_wins() {
    let bad_atomic: &[u8] = &[0x40, 0x06, 0x01, 0x00];
    let bad_med: &[u8] = &[0x80, 0x04, 0x03, 0, 0, 1];
    assert_eq!(
        action(ebgp(), &[], &[bad_atomic, bad_med]),
        Some(TreatAsWithdraw)
    );
    let mut mp = MP_REACH_V6.to_vec();
    mp[6] = 0x0f; // next hop length 15: §7.11
    let raw = message(&[], &[&mp, ORIGIN, AS_PATH, NEXT_HOP, bad_med], NLRI);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.action(), Some(AfiSafiDisable));
    // The IPv4 NLRI is still withdrawn (treat-as-withdraw applies to it),
    // the IPv6 family is disabled and left to the RIB to flush.
    assert_eq!(u.reachable().count(), 0);
    assert_eq!(
        u.unreachable().map(|n| n.afi_safi()).collect::<Vec<_>>(),
        vec![AfiSafi::IPV4_UNICAST]
    );
}

#[test]
fn s4_attribute_length_fields() {
    // The last attribute claims more than is left: treat-as-withdraw, the
    // NLRI still found via the Total Attribute Length.
    let overrun: &[u8] = &[0x80, 0x04, 0x09, 0, 0, 0, 1];
    let raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP, overrun], NLRI);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.action(), Some(TreatAsWithdraw));
    assert_eq!(u.problems[0].kind, ProblemKind::AttributeOverrun);
    assert_eq!(u.nlri.count(), 1);
    // Two octets left: not even an attribute header.
    let raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 0x06]], NLRI);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.problems[0].kind, ProblemKind::TruncatedAttribute);
    assert_eq!(u.action(), Some(TreatAsWithdraw));
    // Extended length flag with one length octet left.
    let raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP, &[0x50, 0x06, 0x00]], NLRI);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.problems[0].kind, ProblemKind::TruncatedAttribute);
}

#[test]
fn s3b_lengths_overrunning_the_message_reset() {
    let mut raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP], NLRI);
    raw[22] += 10; // Total Path Attribute Length past the end.
    let err = run(&raw, &ebgp()).expect_err("reset");
    assert_eq!(err.problems[0].kind, ProblemKind::LengthsOverrun);
    assert_eq!(err.notification.code.to_wire(), (3, 1));
    let mut raw = message(&[8, 10], &[], &[]);
    raw[20] = 9; // Withdrawn Routes Length past the end.
    assert!(run(&raw, &ebgp()).is_err());
}

#[test]
fn s5_3_nlri_syntax() {
    // Classic NLRI and Withdrawn Routes: session reset, Invalid Network Field.
    for raw in [
        message(&[], &[ORIGIN, AS_PATH, NEXT_HOP], &[33, 1, 2, 3, 4, 5]),
        message(&[], &[ORIGIN, AS_PATH, NEXT_HOP], &[24, 10, 0]),
        message(&[24, 10], &[], &[]),
    ] {
        let err = run(&raw, &ebgp()).expect_err("reset");
        assert_eq!(err.notification.code.to_wire(), (3, 10));
    }
    // Inside MP attributes: AFI/SAFI disable.
    let mut mp = MP_REACH_V6.to_vec();
    mp[24] = 129;
    let raw = message(&[], &[&mp, ORIGIN, AS_PATH], &[]);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.action(), Some(AfiSafiDisable));
    assert!(matches!(u.problems[0].kind, ProblemKind::MpNlri { .. }));
    let mut mp = MP_REACH_V6.to_vec();
    mp[24] = 48; // needs 6 octets, 4 left
    let raw = message(&[], &[&mp, ORIGIN, AS_PATH], &[]);
    assert_eq!(
        run(&raw, &ebgp()).expect("not a reset").action(),
        Some(AfiSafiDisable)
    );
    let unreach: &[u8] = &[0x80, 0x0f, 0x05, 0x00, 0x02, 0x01, 0x40, 0x20];
    let raw = message(&[], &[unreach], &[]);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(
        u.disabled_families().collect::<Vec<_>>(),
        vec![AfiSafi::IPV6_UNICAST]
    );
    // The FSM may still choose to reset: the problem knows its NOTIFICATION.
    assert_eq!(u.problems[0].notification().code.to_wire(), (3, 9));
}

#[test]
fn s7_11_mp_reach_next_hop_and_minimum_lengths() {
    for nh_len in [0u8, 4, 15, 17, 31, 33] {
        let mut mp = MP_REACH_V6.to_vec();
        mp[6] = nh_len;
        let raw = message(&[], &[&mp, ORIGIN, AS_PATH], &[]);
        let u = run(&raw, &ebgp()).expect("not a reset");
        assert_eq!(u.action(), Some(AfiSafiDisable), "next hop length {nh_len}");
    }
    // Shorter than 5 octets, family readable: disable; unreadable: reset.
    let raw = message(
        &[],
        &[&[0x80, 0x0e, 0x04, 0x00, 0x02, 0x01, 0x10], ORIGIN, AS_PATH],
        &[],
    );
    assert_eq!(
        run(&raw, &ebgp()).expect("not a reset").action(),
        Some(AfiSafiDisable)
    );
    let raw = message(
        &[],
        &[&[0x80, 0x0e, 0x02, 0x00, 0x02], ORIGIN, AS_PATH],
        &[],
    );
    assert!(run(&raw, &ebgp()).is_err());
    // MP_UNREACH_NLRI shorter than 3: reset.
    let raw = message(&[], &[&[0x80, 0x0f, 0x02, 0x00, 0x02]], &[]);
    assert!(run(&raw, &ebgp()).is_err());
}

#[test]
fn s5_2_errors_without_reachable_nlri_reset() {
    // Withdrawals plus a malformed ORIGIN: nothing announced, so the NLRI
    // parse cannot be trusted (§5.2).
    let raw = message(&[8, 10], &[&[0x40, 0x01, 0x01, 0x07]], &[]);
    let err = run(&raw, &ebgp()).expect_err("reset");
    assert_eq!(err.problems[0].kind, ProblemKind::NoReachableNlri);
    // Only attribute-discard problems: fine.
    let raw = message(&[8, 10], &[&[0x40, 0x06, 0x01, 0x00]], &[]);
    let u = run(&raw, &ebgp()).expect("valid");
    assert_eq!(u.action(), Some(AttributeDiscard));
    assert_eq!(u.unreachable().count(), 1);
    // MP_UNREACH_NLRI alone with a bad ORIGIN next to it: the same.
    let unreach: &[u8] = &[0x80, 0x0f, 0x03, 0x00, 0x02, 0x01];
    let raw = message(&[], &[unreach, &[0x40, 0x01, 0x01, 0x07]], &[]);
    assert!(run(&raw, &ebgp()).is_err());
}

#[test]
fn unrecognized_attributes() {
    // Unknown well-known: reset, Unrecognized Well-known Attribute, with the attribute.
    let wk: &[u8] = &[0x40, 0x63, 0x01, 0x00];
    let raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP, wk], NLRI);
    let err = run(&raw, &ebgp()).expect_err("reset");
    assert_eq!(err.notification.code.to_wire(), (3, 2));
    assert_eq!(err.notification.data, wk.to_vec());
    assert_eq!(err.problems[0].attr, Some(AttrType(99)));
    // Unknown optional non-transitive: quietly ignored.
    assert_eq!(action(ebgp(), &[], &[&[0x80, 0x63, 0x01, 0x00]]), None);
    // Unknown optional transitive: kept.
    let raw = message(
        &[],
        &[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 0x63, 0x01, 0x07]],
        NLRI,
    );
    assert_eq!(run(&raw, &ebgp()).expect("valid").attrs.unknown.len(), 1);
    // MP for a family the codec does not decode: ignored, reported.
    let vpn: &[u8] = &[0x80, 0x0e, 0x05, 0x00, 0x01, 0x80, 0x00, 0x00];
    let raw = message(&[], &[vpn, ORIGIN, AS_PATH], &[]);
    let u = run(&raw, &ebgp()).expect("valid");
    assert_eq!(u.action(), Some(AttributeDiscard));
    assert!(matches!(
        u.problems[0].kind,
        ProblemKind::UnsupportedFamily(_)
    ));
}

#[test]
fn notification_data_is_the_offending_attribute() {
    // Treat-as-withdraw and AFI/SAFI disable problems keep the attribute for
    // the NOTIFICATION the FSM may send (RFC 4271 §6.3, RFC 4760 §7);
    // attribute-discard ones need none.
    let bad_flags: &[u8] = &[0x40, 0x08, 0x04, 0, 0, 0, 1];
    let raw = message(
        &[],
        &[
            ORIGIN,
            AS_PATH,
            NEXT_HOP,
            bad_flags,
            &[0x40, 0x06, 0x01, 0x00],
        ],
        NLRI,
    );
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.problems[0].notification().code.to_wire(), (3, 4));
    assert_eq!(u.problems[0].notification().data, bad_flags.to_vec());
    assert_eq!(u.problems[1].action, AttributeDiscard);
    assert!(u.problems[1].data.is_empty());
    let mut mp = MP_REACH_V6.to_vec();
    mp[6] = 0x0f;
    let raw = message(&[], &[&mp, ORIGIN, AS_PATH], &[]);
    let u = run(&raw, &ebgp()).expect("not a reset");
    assert_eq!(u.problems[0].notification().data, mp);
}

#[test]
fn s7_15_ipv6_address_specific_extended_community() {
    let mut good = vec![0xc0, 0x19, 0x14];
    good.extend_from_slice(&[
        0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 7,
    ]);
    let raw = message(&[], &[ORIGIN, AS_PATH, NEXT_HOP, &good], NLRI);
    let u = run(&raw, &ebgp()).expect("valid");
    assert_eq!(u.action(), None);
    assert_eq!(u.attrs.unknown.len(), 1, "kept raw to pass along");
    let short: &[u8] = &[
        0xc0, 0x19, 0x13, 0, 2, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
    ];
    assert_eq!(action(ebgp(), &[], &[short]), Some(TreatAsWithdraw));
    assert_eq!(
        action(ebgp(), &[], &[&[0xc0, 0x19, 0x00]]),
        Some(TreatAsWithdraw)
    );
}

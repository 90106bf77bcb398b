//! Any bytes as a TCP stream from a peer: cut into messages by the framer
//! (in pieces of a size the selector picks) and decoded with the session
//! parameters the selector picks, 2- or 4-octet ASNs among them. The same
//! bytes are also decoded directly as an UPDATE body in both AS modes, so
//! the fuzzer reaches the attribute decoder without first having to find a
//! valid header. Whatever decodes is used completely and re-encoded, and
//! the re-encoded UPDATEs must decode again without a problem that blocks
//! their routes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routerd_bgp_core::wire::{Framer, Message, Nlri, Open, SessionParams, Update, UpdateEncoder};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let params = SessionParams {
        four_octet_as: selector & 1 != 0,
        external: selector & 2 != 0,
        ipv4_extended_next_hop: selector & 4 != 0,
        max_send_len: if selector & 8 != 0 { 65535 } else { 4096 },
    };
    let mut framer = Framer::new();
    if selector & 16 != 0 {
        framer.set_max_len(65535);
    }
    let piece = usize::from(selector >> 5) * 9 + 1;
    'stream: for chunk in rest.chunks(piece) {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => match frame.decode(&params) {
                    Ok(m) => use_message(&m, &params),
                    Err(e) => drop(e.notification()),
                },
                Ok(None) => break,
                Err(e) => {
                    drop(e.notification());
                    break 'stream;
                }
            }
        }
    }
    for four_octet_as in [false, true] {
        let p = SessionParams {
            four_octet_as,
            ..params
        };
        match Update::decode(rest, &p) {
            Ok(u) => use_update(&u, &p),
            Err(e) => drop(e.to_string()),
        }
    }
    if let Ok(open) = Open::decode(rest) {
        open.encode(&mut Vec::new());
    }
});

fn use_message(m: &Message<'_>, params: &SessionParams) {
    match m {
        Message::Update(u) => use_update(u, params),
        Message::Open(o) => o.encode(&mut Vec::new()),
        Message::Notification(n) => {
            let _ = (n.to_string(), n.shutdown_message());
            n.encode(&mut Vec::new());
        }
        Message::RouteRefresh(r) => r.encode(&mut Vec::new()),
        Message::Keepalive => {}
    }
}

fn use_update(u: &Update<'_>, params: &SessionParams) {
    let _ = (u.action(), u.end_of_rib(), u.disabled_families().count());
    for p in &u.problems {
        let _ = (p.to_string(), p.notification());
    }
    let mut enc = UpdateEncoder::new(*params);
    let mut out = Vec::new();
    for r in u.reachable() {
        let attrs = u.attrs_for(&r);
        let _ = match r.nlri {
            Nlri::V4(p) => enc.announce(&attrs, p, &mut out),
            Nlri::V6(p) => enc.announce(&attrs, p, &mut out),
        };
    }
    for n in u.unreachable() {
        match n {
            Nlri::V4(p) => enc.withdraw(p, &mut out),
            Nlri::V6(p) => enc.withdraw(p, &mut out),
        };
    }
    let mut f = Framer::new();
    f.set_max_len(65535);
    f.push(&out);
    while let Some(frame) = f.next_frame().expect("our own framing is valid") {
        match frame.decode(params) {
            Ok(Message::Update(again)) => assert!(again.announces(), "{:?}", again.problems),
            other => panic!("our own UPDATE does not decode: {other:?}"),
        }
    }
}

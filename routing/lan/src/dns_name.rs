//! Domain names in DNS wire format without compression, as RFC 8106 §5.2
//! (DNSSL) and RFC 8415 §10 (DHCPv6 Domain Search List) require: labels
//! of 1 to 63 octets, each with its length in front, a zero octet at the end.

/// Whether `c` may appear in a label we send or accept: letters, digits,
/// hyphen and underscore (service labels). Anything else (dots inside
/// labels, spaces, control octets) is refused rather than passed on to
/// hosts' resolvers.
fn label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// `name` in lower case without the final dot, if it is a usable domain
/// name: permitted characters, labels of 1 to 63, at most 253 characters
/// (255 octets in wire format).
pub(crate) fn normalize(name: &str) -> Option<String> {
    let n = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.')
            .all(|l| (1..=63).contains(&l.len()) && l.bytes().all(label_char));
    ok.then_some(n)
}

/// Appends `name` in wire format.
pub(crate) fn write(name: &str, out: &mut Vec<u8>) -> Option<()> {
    let n = normalize(name)?;
    for label in n.split('.') {
        out.push(u8::try_from(label.len()).ok()?);
        out.extend(label.as_bytes());
    }
    out.push(0);
    Some(())
}

/// Reads names one after the other until only zero octets (padding) are
/// left. A compression pointer, an overlong label or name, a forbidden
/// character or a truncated name makes the whole list unreadable.
pub(crate) fn read_list(mut b: &[u8]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    while b.iter().any(|&x| x != 0) {
        let mut labels: Vec<String> = Vec::new();
        let mut wire = 1usize;
        loop {
            let (&len, rest) = b.split_first()?;
            b = rest;
            if len == 0 {
                break;
            }
            let len = usize::from(len);
            if len > 63 || b.len() < len {
                return None;
            }
            let label = &b[..len];
            if !label.iter().all(|&c| label_char(c)) {
                return None;
            }
            wire += len + 1;
            if wire > 255 {
                return None;
            }
            labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
            b = &b[len..];
        }
        if labels.is_empty() {
            return None;
        }
        names.push(labels.join("."));
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_hostile_ones_are_refused() {
        let mut b = Vec::new();
        write("Lab.Example.", &mut b).expect("valid");
        write("corp.example", &mut b).expect("valid");
        assert_eq!(
            b,
            b"\x03lab\x07example\x00\x04corp\x07example\x00".to_vec(),
            "no compression of the shared suffix"
        );
        b.extend([0, 0, 0]);
        assert_eq!(
            read_list(&b),
            Some(vec!["lab.example".to_string(), "corp.example".to_string()])
        );
        for bad in ["", ".", "a..b", "spa ce.example", "a\0b", &"x".repeat(64)] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(normalize(&["a"; 127].join(".")).map(|n| n.len()), Some(253));
        assert_eq!(normalize(&["a"; 128].join(".")), None);
        for bad in [
            &b"\xc0\x0c"[..],   // a compression pointer
            b"\x05abc",         // truncated
            b"\x03a.b\x00",     // a dot inside a label
            b"\x00\x03abc\x00", // an empty name before a real one
        ] {
            assert_eq!(read_list(bad), None, "{bad:?}");
        }
        assert_eq!(read_list(&[0; 8]), Some(Vec::new()));
    }
}

//! Domain names as routerd's config writes them: `match` suffixes of a
//! forwarder and the names it is asked to look up.
//!
//! Names are checked here rather than left to hickory's parser, which accepts
//! escapes (`\.`), wildcards and non-ASCII labels: none of them mean anything
//! in a `match` list, and a typo there should fail validation, not silently
//! match nothing.

use hickory_resolver::proto::rr::Name;

/// Longest name on the wire (RFC 1035 §2.3.4), without the final dot.
const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Parses a name or a `match` suffix into a lower-case, fully qualified [`Name`].
/// `"."` is the root, which every name falls under. A trailing dot is optional.
pub(crate) fn parse(text: &str) -> Result<Name, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty name".to_string());
    }
    if trimmed == "." {
        return Ok(Name::root());
    }
    let body = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if body.len() > MAX_NAME_LEN {
        return Err(format!("longer than {MAX_NAME_LEN} characters"));
    }
    for label in body.split('.') {
        if label.is_empty() {
            return Err("empty label (two dots in a row, or a leading dot)".to_string());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "label {label:?} is longer than {MAX_LABEL_LEN} characters"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(if c.is_ascii() {
                format!("character {c:?} is not allowed (letters, digits, '-' and '_' only)")
            } else {
                format!(
                    "non-ASCII character {c:?}: write internationalised names as punycode (xn--)"
                )
            });
        }
    }
    let mut name = Name::from_ascii(body).map_err(|e| e.to_string())?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// The cache key for a parsed name: its lower-case presentation form.
pub(crate) fn key(name: &Name) -> String {
    name.to_ascii()
}

/// Index of the suffix in `suffixes` that covers `name` with the most labels:
/// `a.example.net` beats `example.net` beats `.`. `None` if none covers it.
pub(crate) fn longest_match<'a>(
    name: &Name,
    suffixes: impl IntoIterator<Item = &'a Name>,
) -> Option<usize> {
    suffixes
        .into_iter()
        .enumerate()
        .filter(|(_, suffix)| suffix.zone_of(name))
        .max_by_key(|(_, suffix)| suffix.num_labels())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Name {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn names_are_lower_case_and_fully_qualified() {
        assert_eq!(p("Example.NET").to_ascii(), "example.net.");
        assert_eq!(p("example.net.").to_ascii(), "example.net.");
        assert_eq!(p("_dns._udp.example").to_ascii(), "_dns._udp.example.");
        assert!(p(".").is_root());
        assert!(p(" . ").is_root());
    }

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        for bad in [
            "",
            " ",
            "a..b",
            ".a",
            "a b",
            "*.example",
            "exa\\.mple",
            "bücher.de",
            "a/b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long_label = "a".repeat(64);
        assert!(parse(&long_label).unwrap_err().contains("longer than 63"));
        let long_name = ["abcdefghi"; 26].join(".");
        assert!(parse(&long_name).unwrap_err().contains("longer than 253"));
        assert!(parse("bücher.de").unwrap_err().contains("punycode"));
    }

    #[test]
    fn the_longest_suffix_wins_on_label_boundaries() {
        let suffixes = [p("."), p("example.net"), p("a.example.net")];
        let pick = |n: &str| longest_match(&p(n), suffixes.iter());
        assert_eq!(pick("x.a.example.net"), Some(2));
        assert_eq!(pick("a.example.net"), Some(2));
        assert_eq!(pick("b.example.net"), Some(1));
        assert_eq!(pick("example.net"), Some(1));
        // Not a label boundary: "aexample.net" is not under "example.net".
        assert_eq!(pick("aexample.net"), Some(0));
        assert_eq!(pick("example.org"), Some(0));
        let no_root = [p("example.net")];
        assert_eq!(longest_match(&p("example.org"), no_root.iter()), None);
    }
}

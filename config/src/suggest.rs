//! "Did you mean" suggestions for misspelt field names, kinds and values.

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = input.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = if candidate.eq_ignore_ascii_case(input) {
            0
        } else {
            1 + edit_distance(&lowered, &candidate.to_ascii_lowercase())
        };
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    // One edit per three characters (at least one, plus the case-only slot 0)
    // catches typos without suggesting unrelated words.
    let allowed = 1 + (input.chars().count() / 3).max(1);
    best.filter(|(d, _)| *d <= allowed).map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions,
/// the commonest typo (`mut` for `mtu`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["ifname", "adminUp", "managed", "mtu"];
        assert_eq!(did_you_mean("adminup", fields), Some("adminUp"));
        assert_eq!(did_you_mean("ifnmae", fields), Some("ifname"));
        assert_eq!(did_you_mean("mut", fields), Some("mtu"));
        assert_eq!(did_you_mean("gateway", fields), None);
        assert_eq!(
            did_you_mean("Interfaces", ["Interface", "HealthCheck"]),
            Some("Interface")
        );
    }
}

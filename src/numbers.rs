//! How counts are written for people: 12,345, never 12345 or 12 345 split across a line.

/// `n` with thousands separators, as people read counts: 12,345.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        let grouped = [0, 999, 1_000, 1_234_567].map(super::thousands);
        assert_eq!(grouped, ["0", "999", "1,000", "1,234,567"]);
    }
}

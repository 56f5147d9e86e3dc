//! Lowercase hex, the one encoder of the workspace.
//!
//! Fingerprints, call ids and keys are shown, stored and compared as
//! lowercase hex everywhere (the registry's URLs, the profile files, the
//! CLI and the app), so they all go through this function rather than
//! through a `format!("{b:02x}")` loop of their own.

/// `bytes` as lowercase hex, two digits per byte.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_byte_is_two_lowercase_digits() {
        let all: Vec<u8> = (0..=255).collect();
        let text = super::encode(&all);
        assert_eq!(text.len(), 512);
        for (b, pair) in all.iter().zip(text.as_bytes().chunks(2)) {
            assert_eq!(pair, format!("{b:02x}").as_bytes());
        }
        assert_eq!(super::encode(&[]), "");
    }
}

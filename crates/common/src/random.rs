//! Random secrets from the operating system's generator.

/// `n` random bytes from the OS generator.
///
/// Panics only if the operating system has no entropy source, which leaves
/// nothing safe to do (no token or key could be made).
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

/// A random secret of 32 bytes as 64 lowercase hex characters, used for
/// generated tokens and passwords.
pub fn token_hex() -> String {
    to_hex(&bytes::<32>())
}

pub fn to_hex(data: &[u8]) -> String {
    use std::fmt::Write;
    data.iter().fold(String::with_capacity(data.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_distinct_and_hex() {
        let a = super::token_hex();
        let b = super::token_hex();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

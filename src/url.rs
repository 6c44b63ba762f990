//! Percent-encoding of URL query values (and of file names in headers), the one encoder
//! of the crate.

/// Encodes everything but unreserved characters and `/`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_cyrillic_and_separators() {
        assert_eq!(
            super::encode("/staff/orders?q=Иван&x=1"),
            "/staff/orders%3Fq%3D%D0%98%D0%B2%D0%B0%D0%BD%26x%3D1"
        );
    }
}

//! IP addresses and `cidr` ranges, IPv4 and IPv6, as the service reads them.

use super::*;

// IP addresses

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IpError {
    /// Not shaped like an address at all.
    Nonstandard,
    /// Shaped like an address but not a valid one.
    Invalid,
}

/// Bytes of an IPv4 (dotted quad) or IPv6 (hex and colons) literal. An IPv4-mapped IPv6
/// address (`::ffff:a00:1`) is the IPv4 address, as in the service.
pub(super) fn ip_to_bytes(s: &str) -> Result<Vec<u8>, IpError> {
    let dotted_quad = {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if dotted_quad {
        return s
            .parse::<Ipv4Addr>()
            .map(|a| a.octets().to_vec())
            .map_err(|_| IpError::Invalid);
    }
    if s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return s
            .parse::<Ipv6Addr>()
            .map(|a| match a.to_ipv4_mapped() {
                Some(v4) => v4.octets().to_vec(),
                None => a.octets().to_vec(),
            })
            .map_err(|_| IpError::Invalid);
    }
    Err(IpError::Nonstandard)
}

/// Parses `address/bits`. As in the service, the range runs from the address as written to
/// the address with all host bits set, and the mask must be below 32 (IPv4) or 128 (IPv6).
pub(super) fn parse_cidr(text: &str) -> Result<IpRange, String> {
    // Split like Java's String.split("/"): trailing empty parts are dropped.
    let mut parts: Vec<&str> = text.split('/').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts == [""] && text.contains('/') {
        parts.clear();
    }
    let [address, bits] = parts.as_slice() else {
        return Err("Malformed CIDR, one '/' required".into());
    };
    let bits = parse_java_int(bits).ok_or("Malformed CIDR, mask bits must be an integer")?;
    if bits < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".into());
    }
    let low = ip_to_bytes(address).map_err(|e| match e {
        IpError::Nonstandard => format!("Nonstandard IP address: {address}"),
        IpError::Invalid => format!("Invalid IP address: {address}"),
    })?;
    let total_bits = low.len() * 8;
    if low.len() == 4 && bits > 31 {
        return Err("IPv4 mask bits must be < 32".into());
    }
    if low.len() == 16 && bits > 127 {
        return Err("IPv6 mask bits must be < 128".into());
    }
    let mut high = low.clone();
    for bit in (bits as usize)..total_bits {
        high[bit / 8] |= 0x80 >> (bit % 8);
    }
    Ok(IpRange { low, high })
}

/// `Integer.parseInt` rules: optional sign, ASCII digits, 32-bit range.
pub(super) fn parse_java_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 12 {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if negative { -v } else { v };
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&v)
        .then_some(v)
}

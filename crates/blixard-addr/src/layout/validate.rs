//! What makes a layout valid: pools outside the ranges the kernel treats
//! specially, and a template whose names are safe and unambiguous.

use ipnet::IpNet;

use super::INDEX_PLACEHOLDER;
use crate::error::LayoutError;

/// Characters allowed in interface names: safe in an interface name, an nft
/// string, a shell word and a file name.
pub(crate) fn is_safe_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Address ranges the kernel treats specially, so a pool there fails in
/// the kernel half-way through an apply (multicast, `::`) or is silently
/// something else (loopback, link-local, broadcast). Checked in order, so
/// the most specific reason comes first.
const SPECIAL_RANGES: &[(&str, &str)] = &[
    (
        "0.0.0.0/8",
        "the \"this network\" range (RFC 791), never a host's address",
    ),
    (
        "127.0.0.0/8",
        "the loopback range (RFC 1122), never routed to a device",
    ),
    (
        "169.254.0.0/16",
        "the IPv4 link-local range (RFC 3927), never forwarded",
    ),
    ("224.0.0.0/4", "the IPv4 multicast range (RFC 5771)"),
    ("255.255.255.255/32", "the limited broadcast address"),
    (
        "240.0.0.0/4",
        "the reserved range 240.0.0.0/4 (RFC 1112), which the kernel does not route",
    ),
    (
        "::/127",
        "the unspecified address :: and the loopback ::1 (RFC 4291)",
    ),
    (
        "::ffff:0:0/96",
        "the IPv4-mapped range (RFC 4291), which the kernel reads as IPv4",
    ),
    (
        "fe80::/10",
        "the IPv6 link-local range (RFC 4291), never forwarded",
    ),
    ("ff00::/8", "the IPv6 multicast range (RFC 4291)"),
];

pub(super) fn check_special_pool(pool: IpNet) -> Result<(), LayoutError> {
    for (range, what) in SPECIAL_RANGES {
        let range: IpNet = range.parse().expect("a valid range");
        // Two prefixes overlap exactly when one contains the other.
        if range.contains(&pool) || pool.contains(&range) {
            let example = match pool {
                IpNet::V4(_) => "a private range such as 10.0.0.0/24",
                IpNet::V6(_) => "a ULA such as fd00:b1::/64",
            };
            return Err(LayoutError::SpecialPool {
                pool: pool.to_string(),
                reason: format!("it overlaps {range}, {what}; use {example}"),
            });
        }
    }
    Ok(())
}

pub(super) fn validate_template(template: &str) -> Result<(), LayoutError> {
    if template.matches(INDEX_PLACEHOLDER).count() != 1 {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "must contain {index} exactly once".into(),
        });
    }
    let rest = template.replace(INDEX_PLACEHOLDER, "");
    if let Some(c) = rest.chars().find(|c| !is_safe_name_char(*c)) {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: format!("character {c:?} is not allowed (use letters, digits, '_' and '-')"),
        });
    }
    let (prefix, suffix) = template.split_once(INDEX_PLACEHOLDER).expect("checked");
    if prefix.is_empty() {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "must start with a letter prefix such as \"vm\"".into(),
        });
    }
    if prefix.starts_with('-') {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "must not start with '-': `ip`, `tc` and other tools would read the names as options".into(),
        });
    }
    if suffix.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "a digit right after {index} makes names ambiguous".into(),
        });
    }
    Ok(())
}

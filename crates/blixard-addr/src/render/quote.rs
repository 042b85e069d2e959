//! Quoting of values written into generated text.

/// Nix string literals separated by spaces, as in a Nix list:
/// `"10.0.0.3/32" "fec0::3/128"`. The values are addresses and names the
/// planner checked, so they hold no `"`, `\` or `${`.
pub(super) fn nix_strings(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word for a POSIX shell: as it is when it holds only letters,
/// digits and `-_=,.:/` (VMM arguments read best that way), else in single
/// quotes with each `'` written `'\''`; the empty word is `''`.
///
/// ```
/// use blixard_addr::render::shell_quote;
/// assert_eq!(shell_quote("tap,id=net0,ifname=vm3"), "tap,id=net0,ifname=vm3");
/// assert_eq!(shell_quote("a b"), "'a b'");
/// assert_eq!(shell_quote("it's"), r"'it'\''s'");
/// assert_eq!(shell_quote(""), "''");
/// ```
pub fn shell_quote(word: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-_=,.:/".contains(c);
    if !word.is_empty() && word.chars().all(bare) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

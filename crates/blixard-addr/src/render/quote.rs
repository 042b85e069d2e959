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

//! What planning needs from the host (tap owner and group ids, the
//! external interface) and single values read in its namespace.

use blixard_addr::config::Config;
use blixard_addr::planner::HostFacts;
use blixard_addr::sysctl::SysctlKey;
use blixard_route::Session;

use crate::{Host, HostError};

impl Host {
    /// Resolves what planning needs from the host: tap owner and group (by
    /// name or number; owner defaults to `$SUDO_USER`, else root) and the
    /// external interface (`"auto"`: the default route's).
    pub fn facts(&self, config: &Config) -> Result<HostFacts, HostError> {
        let user = |key: &'static str, value: &str| {
            blixard_tap::resolve_user(value).map_err(|source| HostError::UnknownName {
                key,
                value: value.to_string(),
                source: Box::new(source),
            })
        };
        let (owner_key, owner) = match &config.owner {
            Some(owner) => ("owner", Some(user("owner", owner)?)),
            None => match std::env::var("SUDO_USER") {
                Ok(sudo_user) if !sudo_user.is_empty() => {
                    ("$SUDO_USER", Some(user("$SUDO_USER", &sudo_user)?))
                }
                _ => ("owner", Some(0)),
            },
        };
        let group = config
            .group
            .as_deref()
            .map(|g| {
                blixard_tap::resolve_group(g).map_err(|source| HostError::UnknownName {
                    key: "group",
                    value: g.to_string(),
                    source: Box::new(source),
                })
            })
            .transpose()?;
        // TUNSETOWNER/TUNSETGROUP refuse an id this user namespace does not
        // map, after the first taps were made. -1 is the planner's to name.
        for (key, id, map) in [
            (owner_key, owner, "/proc/self/uid_map"),
            ("group", group, "/proc/self/gid_map"),
        ] {
            if let Some(id) = id.filter(|&id| id != blixard_addr::planner::UNSET_ID)
                && let Ok(text) = std::fs::read_to_string(map)
                && !blixard_addr::planner::id_is_mapped(&text, id)
            {
                return Err(HostError::UnmappedId { key, id, map });
            }
        }
        let external_interface = match config.external_interface.as_str() {
            "none" | "" => None,
            "auto" => {
                let found = self.run(|| Ok(Session::new()?.default_route_interfaces()?))?;
                match found.into_iter().next() {
                    Some(name) => Some(name),
                    None => return Err(HostError::NoDefaultRoute(self.netns.to_string())),
                }
            }
            name => Some(name.to_string()),
        };
        Ok(HostFacts {
            owner_uid: owner,
            group_gid: group,
            external_interface,
        })
    }

    /// Reads a sysctl inside this host's namespace; `None` when the key
    /// does not exist (a per-link key of a missing link).
    pub fn sysctl(&self, key: &SysctlKey) -> Result<Option<String>, HostError> {
        let key = key.to_string();
        self.run(|| Ok(blixard_route::read_sysctl(&key)?))
    }
}

//! The SDAM spec's replica set subroutines: updateRSFromPrimary (with the electionId /
//! setVersion rules for detecting stale primaries), updateRSWithoutPrimary,
//! updateRSWithPrimaryFromMember and checkIfHasPrimary.

use std::cmp::Ordering;

use super::{TopologyDescription, TopologyType, UpdateOutcome};
use crate::{
    options::ServerAddress,
    sdam::{ServerDescription, ServerType},
};

/// Error of a primary whose (electionId, setVersion) is older than one already seen.
pub(crate) const STALE_PRIMARY: &str = "primary marked stale due to electionId/setVersion mismatch";
/// Error of the previous primary when a newer one is discovered.
pub(crate) const DEMOTED_PRIMARY: &str = "primary marked stale due to discovery of newer primary";

/// `maxWireVersion` of MongoDB 4.2; a primary demoted on an older server has closed its
/// connections, so its pool must be cleared.
const WIRE_VERSION_4_2: i32 = 8;
/// `maxWireVersion` of MongoDB 6.0, which orders primaries by electionId first.
const WIRE_VERSION_6_0: i32 = 17;

impl TopologyDescription {
    /// checkIfHasPrimary: the type follows whether an RSPrimary is present.
    pub(super) fn check_if_has_primary(&mut self) {
        self.topology_type = if self.primary().is_some() {
            TopologyType::ReplicaSetWithPrimary
        } else {
            TopologyType::ReplicaSetNoPrimary
        };
    }

    /// updateRSFromPrimary.
    pub(super) fn update_rs_from_primary(
        &mut self,
        sd: &ServerDescription,
        out: &mut UpdateOutcome,
    ) {
        if self.set_name.is_none() {
            self.set_name.clone_from(&sd.set_name);
        } else if self.set_name != sd.set_name {
            self.remove_server(&sd.address, out);
            self.check_if_has_primary();
            return;
        }
        if self.is_stale_primary(sd) {
            self.servers.insert(
                sd.address.clone(),
                ServerDescription::with_error(sd.address.clone(), STALE_PRIMARY),
            );
            self.check_if_has_primary();
            return;
        }
        let demoted: Vec<ServerAddress> = self
            .servers
            .values()
            .filter(|s| s.address != sd.address && s.server_type == ServerType::RsPrimary)
            .map(|s| s.address.clone())
            .collect();
        for address in demoted {
            let old = self.servers.insert(
                address.clone(),
                ServerDescription::with_error(address.clone(), DEMOTED_PRIMARY),
            );
            if old.is_some_and(|old| old.max_wire_version < WIRE_VERSION_4_2) {
                out.clear_pool.push(address.clone());
            }
            out.request_check.push(address);
        }
        for address in sd.members() {
            self.add_server(address, out);
        }
        let gone: Vec<ServerAddress> = self
            .servers
            .keys()
            .filter(|address| !sd.members().any(|member| member == *address))
            .cloned()
            .collect();
        for address in gone {
            self.remove_server(&address, out);
        }
        self.check_if_has_primary();
    }

    /// Whether `sd`, a primary, is older than the newest primary seen (by the rules of
    /// its server version); if not, records its electionId and setVersion.
    fn is_stale_primary(&mut self, sd: &ServerDescription) -> bool {
        if sd.max_wire_version >= WIRE_VERSION_6_0 {
            // Compare (electionId, setVersion) in that order; None sorts first.
            let stale = match sd.election_id.cmp(&self.max_election_id) {
                Ordering::Less => true,
                Ordering::Equal => sd.set_version < self.max_set_version,
                Ordering::Greater => false,
            };
            if !stale {
                self.max_election_id = sd.election_id;
                self.max_set_version = sd.set_version;
            }
            return stale;
        }
        // Before 6.0: setVersion first, then electionId, only when all four are known.
        if let (Some(set_version), Some(election_id)) = (sd.set_version, sd.election_id) {
            if let (Some(max_set_version), Some(max_election_id)) =
                (self.max_set_version, self.max_election_id)
                && (max_set_version > set_version
                    || (max_set_version == set_version && max_election_id > election_id))
            {
                return true;
            }
            self.max_election_id = Some(election_id);
        }
        if let Some(set_version) = sd.set_version
            && self.max_set_version.is_none_or(|max| set_version > max)
        {
            self.max_set_version = Some(set_version);
        }
        false
    }

    /// updateRSWithoutPrimary.
    pub(super) fn update_rs_without_primary(
        &mut self,
        sd: &ServerDescription,
        out: &mut UpdateOutcome,
    ) {
        if self.set_name.is_none() {
            self.set_name.clone_from(&sd.set_name);
        } else if self.set_name != sd.set_name {
            self.remove_server(&sd.address, out);
            return;
        }
        for address in sd.members() {
            self.add_server(address, out);
        }
        self.mark_possible_primary(sd.primary.as_ref());
        if sd.me.as_ref().is_some_and(|me| *me != sd.address) {
            self.remove_server(&sd.address, out);
        }
    }

    /// updateRSWithPrimaryFromMember.
    pub(super) fn update_rs_with_primary_from_member(
        &mut self,
        sd: &ServerDescription,
        out: &mut UpdateOutcome,
    ) {
        let wrong_me = sd.me.as_ref().is_some_and(|me| *me != sd.address);
        if self.set_name != sd.set_name || wrong_me {
            self.remove_server(&sd.address, out);
            self.check_if_has_primary();
            return;
        }
        if self.primary().is_none() {
            self.topology_type = TopologyType::ReplicaSetNoPrimary;
            self.mark_possible_primary(sd.primary.as_ref());
        }
    }

    /// The server another member names as primary becomes PossiblePrimary if Unknown.
    fn mark_possible_primary(&mut self, primary: Option<&ServerAddress>) {
        if let Some(server) = primary.and_then(|address| self.servers.get_mut(address))
            && server.server_type == ServerType::Unknown
        {
            server.server_type = ServerType::PossiblePrimary;
        }
    }
}

//! What the test server is (version, topology, auth) and whether a `runOnRequirements`
//! list is met (unified-test-format spec, "runOnRequirement").

use std::{cell::RefCell, collections::HashMap};

use bson::{Bson, doc};
use greenmongo::{Client, ClientOptions};

use super::{
    format::{RunOnRequirement, Version},
    matching::scalars_equal,
};

/// Facts about the deployment, read once with the internal client.
pub struct ServerInfo {
    pub version: Version,
    /// "single", "replicaset" or "sharded" (a single-node replica set is "replicaset").
    pub topology: &'static str,
    pub auth: bool,
    /// `getParameter` answers, cached; `None` when the server refused the parameter.
    parameters: RefCell<HashMap<String, Option<Bson>>>,
}

impl ServerInfo {
    /// Asks the server with `buildInfo` and `hello`.
    pub fn discover(uri: &str, internal: &Client) -> Result<ServerInfo, String> {
        let admin = internal.database("admin");
        let build = admin
            .run_command(doc! { "buildInfo": 1 })
            .run()
            .map_err(|e| format!("buildInfo: {e}"))?;
        let parts: Vec<u32> = build
            .get_array("versionArray")
            .map_err(|_| "buildInfo has no versionArray".to_owned())?
            .iter()
            .take(3)
            .map(|v| match v {
                Bson::Int32(i) => *i as u32,
                Bson::Int64(i) => *i as u32,
                _ => 0,
            })
            .collect();
        let mut version = [0; 3];
        version[..parts.len()].copy_from_slice(&parts);
        let hello = admin
            .run_command(doc! { "hello": 1 })
            .run()
            .map_err(|e| format!("hello: {e}"))?;
        let topology = if hello.get_str("msg").ok() == Some("isdbgrid") {
            "sharded"
        } else if hello.contains_key("setName") {
            "replicaset"
        } else {
            "single"
        };
        let auth = ClientOptions::parse(uri)
            .map_err(|e| format!("MONGODB_URI: {e}"))?
            .credential
            .is_some();
        Ok(ServerInfo {
            version: Version(version),
            topology,
            auth,
            parameters: RefCell::new(HashMap::new()),
        })
    }

    fn parameter(&self, internal: &Client, name: &str) -> Option<Bson> {
        self.parameters
            .borrow_mut()
            .entry(name.to_owned())
            .or_insert_with(|| {
                let mut command = doc! { "getParameter": 1 };
                command.insert(name, 1);
                internal
                    .database("admin")
                    .run_command(command)
                    .run()
                    .ok()
                    .and_then(|reply| reply.get(name).cloned())
            })
            .clone()
    }

    /// `None` when some requirement of the list is met (or there is no list), else why not.
    pub fn unmet(&self, internal: &Client, list: Option<&[RunOnRequirement]>) -> Option<String> {
        let list = list?;
        let mut reasons = Vec::new();
        for requirement in list {
            match self.unmet_one(internal, requirement) {
                None => return None,
                Some(why) => reasons.push(why),
            }
        }
        reasons.dedup();
        Some(format!("runOnRequirements: {}", reasons.join(" or ")))
    }

    fn unmet_one(&self, internal: &Client, r: &RunOnRequirement) -> Option<String> {
        if let Some(min) = &r.min_server_version {
            match Version::parse(min) {
                Ok(min) if self.version >= min => {}
                _ => return Some(format!("needs server >= {min}")),
            }
        }
        if let Some(max) = &r.max_server_version {
            match Version::parse(max) {
                Ok(max) if self.version <= max => {}
                _ => return Some(format!("needs server <= {max}")),
            }
        }
        if let Some(topologies) = &r.topologies {
            let ok = topologies.iter().any(|t| {
                t == self.topology || (self.topology == "sharded" && t == "sharded-replicaset")
            });
            if !ok {
                return Some(format!("needs topology {}", topologies.join("/")));
            }
        }
        if r.serverless.as_deref() == Some("require") {
            return Some("needs serverless".to_owned());
        }
        if let Some(auth) = r.auth
            && auth != self.auth
        {
            return Some(format!("needs auth {}", if auth { "on" } else { "off" }));
        }
        if r.csfle == Some(true) {
            return Some("needs CSFLE (not supported)".to_owned());
        }
        if let Some(mechanism) = &r.auth_mechanism {
            let supported = match self.parameter(internal, "authenticationMechanisms") {
                Some(Bson::Array(list)) => list
                    .iter()
                    .filter_map(Bson::as_str)
                    .any(|m| m.eq_ignore_ascii_case(mechanism)),
                _ => false,
            };
            if !supported {
                return Some(format!("needs auth mechanism {mechanism}"));
            }
        }
        for (name, want) in r.server_parameters.iter().flatten() {
            match self
                .parameter(internal, name)
                .or_else(|| super::server_api::absent_parameter(name))
            {
                Some(got) if scalars_equal(want, &got) => {}
                _ => return Some(format!("needs server parameter {name}: {want}")),
            }
        }
        None
    }
}

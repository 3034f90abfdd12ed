//! Parsing a `hello` (or legacy hello) reply into a [`ServerDescription`] (SDAM spec,
//! "Parsing a hello or legacy hello response").

use std::time::{Duration, Instant};

use bson::{Bson, Document, oid::ObjectId};

use super::{ServerDescription, ServerType, TopologyVersion};
use crate::{
    Error, Result,
    options::{ServerAddress, TagSet},
    sdam::RoundTripTimes,
};

impl ServerDescription {
    /// The description of a server whose check returned `reply`, measured with `rtt` and
    /// finished at `checked_at`.
    ///
    /// The type follows the SDAM spec's table (`isWritablePrimary` is read first, then the
    /// legacy `ismaster`); host names in `me`, `hosts`, `passives`, `arbiters` and `primary`
    /// are lower-cased. A reply without `ok: 1` gives an Unknown server whose error quotes
    /// the reply's `errmsg`; so does a reply with a field of the wrong type, since nothing
    /// in it can then be trusted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use bson::doc;
    /// use greenmongo::{
    ///     options::ServerAddress,
    ///     sdam::{RoundTripTimes, ServerDescription, ServerType},
    /// };
    ///
    /// let reply = doc! {
    ///     "ok": 1, "isWritablePrimary": false, "secondary": true, "setName": "rs0",
    ///     "hosts": ["A:27017", "b:27017"], "minWireVersion": 0, "maxWireVersion": 21,
    /// };
    /// let rtt = RoundTripTimes { average: Duration::from_millis(2), minimum: Duration::ZERO };
    /// let sd = ServerDescription::from_hello(ServerAddress::tcp("b", 27017), &reply, rtt, Instant::now());
    /// assert_eq!(sd.server_type, ServerType::RsSecondary);
    /// assert_eq!(sd.hosts[0], ServerAddress::tcp("a", 27017));
    /// assert_eq!(sd.average_rtt, Some(Duration::from_millis(2)));
    ///
    /// let failed = ServerDescription::from_hello(
    ///     ServerAddress::tcp("b", 27017), &doc! { "ok": 0, "errmsg": "no" }, rtt, Instant::now());
    /// assert_eq!(failed.server_type, ServerType::Unknown);
    /// ```
    pub fn from_hello(
        address: ServerAddress,
        reply: &Document,
        rtt: RoundTripTimes,
        checked_at: Instant,
    ) -> ServerDescription {
        let reader = Reader(reply);
        if !reader.ok() {
            let message = reply.get_str("errmsg").unwrap_or("no errmsg");
            return ServerDescription::with_error(
                address,
                format!("hello failed (ok is not 1): {message}"),
            );
        }
        match parse(address.clone(), reader) {
            Ok(mut sd) => {
                sd.average_rtt = Some(rtt.average);
                sd.min_rtt = Some(rtt.minimum);
                sd.last_update_time = Some(checked_at);
                sd
            }
            Err(e) => ServerDescription::with_error(address, e.to_string()),
        }
    }
}

/// A `topologyVersion` document: `{processId: ObjectId, counter: int64}`.
pub(crate) fn parse_topology_version(value: &Bson) -> Result<TopologyVersion> {
    let bad = || Error::invalid_response(format!("topologyVersion is malformed: {value}"));
    let doc = value.as_document().ok_or_else(bad)?;
    let process_id = doc.get_object_id("processId").map_err(|_| bad())?;
    let counter = integer(doc.get("counter")).ok_or_else(bad)?;
    Ok(TopologyVersion {
        process_id,
        counter,
    })
}

/// A whole number stored as int32, int64 or an integral double.
fn integer(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

fn parse(address: ServerAddress, r: Reader<'_>) -> Result<ServerDescription> {
    let mut sd = ServerDescription::new(address);
    sd.set_name = r.string("setName")?;
    let writable_primary = match r.0.get("isWritablePrimary") {
        Some(_) => r.flag("isWritablePrimary")?,
        None => r.flag("ismaster")?,
    };
    sd.server_type = if r.flag("isreplicaset")? {
        ServerType::RsGhost
    } else if sd.set_name.is_some() {
        if r.flag("hidden")? {
            ServerType::RsOther
        } else if writable_primary {
            ServerType::RsPrimary
        } else if r.flag("secondary")? {
            ServerType::RsSecondary
        } else if r.flag("arbiterOnly")? {
            ServerType::RsArbiter
        } else {
            ServerType::RsOther
        }
    } else if r.string("msg")?.as_deref() == Some("isdbgrid") {
        ServerType::Mongos
    } else {
        ServerType::Standalone
    };
    sd.min_wire_version = r.int32("minWireVersion")?.unwrap_or(0);
    sd.max_wire_version = r.int32("maxWireVersion")?.unwrap_or(0);
    sd.me = r.address("me")?;
    sd.hosts = r.addresses("hosts")?;
    sd.passives = r.addresses("passives")?;
    sd.arbiters = r.addresses("arbiters")?;
    sd.primary = r.address("primary")?;
    sd.tags = r.tags()?;
    sd.set_version = r.int("setVersion")?;
    sd.election_id = r.object_id("electionId")?;
    sd.logical_session_timeout = r
        .int("logicalSessionTimeoutMinutes")?
        .map(|m| Duration::from_secs(u64::try_from(m).unwrap_or(0).saturating_mul(60)));
    sd.topology_version = match r.present("topologyVersion") {
        Some(v) => Some(parse_topology_version(v)?),
        None => None,
    };
    sd.last_write_date = match r.present("lastWrite") {
        Some(Bson::Document(last_write)) => match last_write.get("lastWriteDate") {
            None | Some(Bson::Null) => None,
            Some(Bson::DateTime(d)) => Some(*d),
            Some(other) => return Err(r.wrong_type("lastWrite.lastWriteDate", other, "a date")),
        },
        Some(other) => return Err(r.wrong_type("lastWrite", other, "a document")),
        None => None,
    };
    sd.service_id = r.object_id("serviceId")?;
    sd.is_cryptd = r.flag("iscryptd")?;
    Ok(sd)
}

/// Typed access to the fields of a reply; `null` counts as absent.
#[derive(Clone, Copy)]
struct Reader<'a>(&'a Document);

impl<'a> Reader<'a> {
    fn ok(self) -> bool {
        match self.0.get("ok") {
            Some(Bson::Boolean(b)) => *b,
            Some(Bson::Double(v)) => *v == 1.0,
            other => integer(other) == Some(1),
        }
    }

    fn present(self, key: &str) -> Option<&'a Bson> {
        self.0.get(key).filter(|v| !matches!(v, Bson::Null))
    }

    fn wrong_type(self, key: &str, value: &Bson, expected: &str) -> Error {
        Error::invalid_response(format!(
            "hello reply: {key} is {value}, expected {expected}"
        ))
    }

    fn flag(self, key: &str) -> Result<bool> {
        match self.present(key) {
            None => Ok(false),
            Some(Bson::Boolean(b)) => Ok(*b),
            Some(other) => Err(self.wrong_type(key, other, "a boolean")),
        }
    }

    fn string(self, key: &str) -> Result<Option<String>> {
        match self.present(key) {
            None => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, other, "a string")),
        }
    }

    fn int(self, key: &str) -> Result<Option<i64>> {
        match self.present(key) {
            None => Ok(None),
            v => integer(v)
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, v.unwrap_or(&Bson::Null), "an integer")),
        }
    }

    fn int32(self, key: &str) -> Result<Option<i32>> {
        match self.int(key)? {
            None => Ok(None),
            Some(v) => i32::try_from(v).map(Some).map_err(|_| {
                Error::invalid_response(format!("hello reply: {key} is out of range: {v}"))
            }),
        }
    }

    fn object_id(self, key: &str) -> Result<Option<ObjectId>> {
        match self.present(key) {
            None => Ok(None),
            Some(Bson::ObjectId(id)) => Ok(Some(*id)),
            Some(other) => Err(self.wrong_type(key, other, "an ObjectId")),
        }
    }

    fn address(self, key: &str) -> Result<Option<ServerAddress>> {
        self.string(key)?
            .map(|s| Self::parse_address(key, &s))
            .transpose()
    }

    fn addresses(self, key: &str) -> Result<Vec<ServerAddress>> {
        match self.present(key) {
            None => Ok(Vec::new()),
            Some(Bson::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Bson::String(s) => Self::parse_address(key, s),
                    other => Err(self.wrong_type(key, other, "an array of strings")),
                })
                .collect(),
            Some(other) => Err(self.wrong_type(key, other, "an array")),
        }
    }

    /// `ServerAddress::parse` lower-cases host names, as the spec requires.
    fn parse_address(key: &str, s: &str) -> Result<ServerAddress> {
        ServerAddress::parse(s)
            .map_err(|e| Error::invalid_response(format!("hello reply: {key}: {e}")))
    }

    fn tags(self) -> Result<TagSet> {
        match self.present("tags") {
            None => Ok(TagSet::new()),
            Some(Bson::Document(doc)) => doc
                .iter()
                .map(|(k, v)| match v {
                    Bson::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(self.wrong_type("tags", other, "string values")),
                })
                .collect(),
            Some(other) => Err(self.wrong_type("tags", other, "a document")),
        }
    }
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    fn parse(reply: Document) -> ServerDescription {
        ServerDescription::from_hello(
            ServerAddress::tcp("a", 27017),
            &reply,
            RoundTripTimes {
                average: Duration::from_millis(1),
                minimum: Duration::ZERO,
            },
            Instant::now(),
        )
    }

    #[test]
    fn server_types_follow_the_spec_table() {
        let cases = [
            (doc! { "ok": 1 }, ServerType::Standalone),
            (doc! { "ok": 1, "msg": "isdbgrid" }, ServerType::Mongos),
            (
                doc! { "ok": 1, "isreplicaset": true, "setName": "rs" },
                ServerType::RsGhost,
            ),
            (
                doc! { "ok": 1, "setName": "rs", "isWritablePrimary": true },
                ServerType::RsPrimary,
            ),
            (
                doc! { "ok": 1.0, "setName": "rs", "ismaster": true },
                ServerType::RsPrimary,
            ),
            (
                doc! { "ok": 1, "setName": "rs", "isWritablePrimary": false, "ismaster": true },
                ServerType::RsOther,
            ),
            (
                doc! { "ok": 1, "setName": "rs", "secondary": true },
                ServerType::RsSecondary,
            ),
            (
                doc! { "ok": 1, "setName": "rs", "secondary": true, "hidden": true },
                ServerType::RsOther,
            ),
            (
                doc! { "ok": 1, "setName": "rs", "arbiterOnly": true },
                ServerType::RsArbiter,
            ),
            (doc! { "ok": 1, "setName": "rs" }, ServerType::RsOther),
            (doc! { "ok": 0, "setName": "rs" }, ServerType::Unknown),
            (doc! { "isWritablePrimary": true }, ServerType::Unknown),
        ];
        for (reply, expected) in cases {
            assert_eq!(parse(reply.clone()).server_type, expected, "{reply}");
        }
    }

    #[test]
    fn fields_are_parsed_and_hosts_lower_cased() {
        let pid = ObjectId::new();
        let election = ObjectId::new();
        let sd = parse(doc! {
            "ok": 1, "setName": "rs", "isWritablePrimary": true, "me": "A:1",
            "hosts": ["A:1", "B:2"], "passives": ["c:3"], "arbiters": ["d:4"], "primary": "A:1",
            "tags": { "dc": "ny" }, "setVersion": 3_i64, "electionId": election,
            "logicalSessionTimeoutMinutes": 30, "minWireVersion": 0, "maxWireVersion": 21,
            "topologyVersion": { "processId": pid, "counter": 7_i64 },
            "lastWrite": { "lastWriteDate": bson::DateTime::from_millis(42) },
        });
        assert_eq!(sd.me, Some(ServerAddress::tcp("a", 1)));
        assert_eq!(
            sd.members().cloned().collect::<Vec<_>>(),
            [
                ServerAddress::tcp("a", 1),
                ServerAddress::tcp("b", 2),
                ServerAddress::tcp("c", 3),
                ServerAddress::tcp("d", 4)
            ]
        );
        assert_eq!(sd.tags.get("dc").map(String::as_str), Some("ny"));
        assert_eq!(sd.set_version, Some(3));
        assert_eq!(sd.election_id, Some(election));
        assert_eq!(sd.logical_session_timeout, Some(Duration::from_secs(1800)));
        assert_eq!(sd.max_wire_version, 21);
        assert_eq!(
            sd.topology_version,
            Some(TopologyVersion {
                process_id: pid,
                counter: 7
            })
        );
        assert_eq!(sd.last_write_date, Some(bson::DateTime::from_millis(42)));
        assert!(sd.last_update_time.is_some());
    }

    #[test]
    fn a_malformed_reply_makes_the_server_unknown() {
        let sd = parse(doc! { "ok": 1, "setName": 5 });
        assert_eq!(sd.server_type, ServerType::Unknown);
        assert!(sd.error.unwrap().contains("setName"));
        let sd = parse(doc! { "ok": 1, "hosts": ["a:0"] });
        assert_eq!(sd.server_type, ServerType::Unknown);
        assert_eq!(sd.average_rtt, None);
    }

    #[test]
    fn failed_hello_quotes_errmsg() {
        let sd = parse(doc! { "ok": 0, "errmsg": "not authorized" });
        assert!(sd.error.unwrap().contains("not authorized"));
    }
}

//! The entity map of one test (unified-test-format spec, "Entity Map"): clients with their
//! event logs, databases, collections, cursors and saved BSON results.
//!
//! Entities the driver cannot provide yet (client-side encryption...) are stored as
//! [`Entity::Unsupported`] with the reason: a test that never touches one still runs, and
//! the first operation that does skips the test with that reason.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bson::{Bson, Document};
use greenmongo::{
    Client, ClientOptions, ClientSession, Collection, Cursor, Database,
    options::{
        Acknowledgment, ReadConcern, ReadConcernLevel, ReadPreference, ReadPreferenceMode, TagSet,
        WriteConcern,
    },
};

use super::{
    events::EventLog,
    format::{
        ClientDescription, CollectionOrDatabaseOptions, EntityDescription, ReadPreferenceSpec,
        WriteConcernSpec,
    },
    outcome::{Step, fail, skip},
    sessions::SessionEntity,
    threads::ThreadEntity,
};

pub enum Entity {
    Client(ClientEntity),
    Database(Database),
    Collection(Collection<Document>),
    Cursor(Box<Cursor<Document>>),
    Bson(Bson),
    Thread(ThreadEntity),
    Bucket(greenmongo::gridfs::GridFsBucket), // gridfs
    ChangeStream(Box<greenmongo::change_stream::ChangeStream<Document>>), // change streams
    Session(Box<SessionEntity>),
    /// Something the driver lacks; the string says what.
    Unsupported(String),
}

pub struct ClientEntity {
    pub client: Client,
    pub log: Arc<EventLog>,
}

#[derive(Default)]
pub struct EntityMap {
    map: HashMap<String, Entity>,
}

impl EntityMap {
    pub fn insert(&mut self, id: &str, entity: Entity) -> Step {
        if self.map.contains_key(id) {
            return fail!("entity {id:?} already exists");
        }
        self.map.insert(id.to_owned(), entity);
        Ok(())
    }

    pub fn remove(&mut self, id: &str) -> Option<Entity> {
        self.map.remove(id)
    }

    fn get(&self, id: &str) -> Step<&Entity> {
        match self.map.get(id) {
            None => fail!("no entity {id:?}"),
            Some(Entity::Unsupported(why)) => skip!("{why}"),
            Some(entity) => Ok(entity),
        }
    }

    /// The kind of entity `id` names ("client", "database", ...); unsupported ones skip.
    pub fn kind(&self, id: &str) -> Step<&'static str> {
        Ok(match self.get(id)? {
            Entity::Client(_) => "client",
            Entity::Database(_) => "database",
            Entity::Collection(_) => "collection",
            Entity::Cursor(_) => "cursor",
            Entity::Bson(_) => "bson",
            Entity::Thread(_) => "thread",
            Entity::Bucket(_) => "bucket",             // gridfs
            Entity::ChangeStream(_) => "changeStream", // change streams
            Entity::Session(_) => "session",
            Entity::Unsupported(why) => return skip!("{why}"),
        })
    }

    pub fn client(&self, id: &str) -> Step<&ClientEntity> {
        match self.get(id)? {
            Entity::Client(c) => Ok(c),
            _ => fail!("entity {id:?} is not a client"),
        }
    }

    pub fn database(&self, id: &str) -> Step<&Database> {
        match self.get(id)? {
            Entity::Database(d) => Ok(d),
            _ => fail!("entity {id:?} is not a database"),
        }
    }

    pub fn collection(&self, id: &str) -> Step<&Collection<Document>> {
        match self.get(id)? {
            Entity::Collection(c) => Ok(c),
            _ => fail!("entity {id:?} is not a collection"),
        }
    }

    /// A change stream entity. // change streams
    pub fn change_stream(
        &mut self,
        id: &str,
    ) -> Step<&mut greenmongo::change_stream::ChangeStream<Document>> {
        self.get(id)?;
        match self.map.get_mut(id) {
            Some(Entity::ChangeStream(s)) => Ok(s.as_mut()),
            _ => fail!("entity {id:?} is not a change stream"),
        }
    }

    pub fn cursor(&mut self, id: &str) -> Step<&mut Cursor<Document>> {
        self.get(id)?;
        match self.map.get_mut(id) {
            Some(Entity::Cursor(c)) => Ok(c.as_mut()),
            _ => fail!("entity {id:?} is not a cursor"),
        }
    }

    /// A BSON entity, for `$$matchesEntity`; a session entity's `lsid`, for
    /// `$$sessionLsid` (kept after the session ends).
    pub fn bson(&self, id: &str) -> Option<Bson> {
        match self.map.get(id) {
            Some(Entity::Bson(b)) => Some(b.clone()),
            Some(Entity::Session(s)) => Some(Bson::Document(s.lsid.clone())),
            _ => None,
        }
    }

    /// A session entity, for an operation to run in; an ended one fails the test.
    pub fn session(&mut self, id: &str) -> Step<&mut ClientSession> {
        self.get(id)?;
        match self.map.get_mut(id) {
            Some(Entity::Session(s)) => match s.session.as_mut() {
                Some(session) => Ok(session),
                None => fail!("session {id:?} was ended"),
            },
            _ => fail!("entity {id:?} is not a session"),
        }
    }

    /// A session entity itself (ended or not).
    pub fn session_entity(&mut self, id: &str) -> Step<&mut SessionEntity> {
        self.get(id)?;
        match self.map.get_mut(id) {
            Some(Entity::Session(s)) => Ok(s),
            _ => fail!("entity {id:?} is not a session"),
        }
    }

    pub fn thread(&mut self, id: &str) -> Step<&mut ThreadEntity> {
        match self.map.get_mut(id) {
            Some(Entity::Thread(t)) => Ok(t),
            Some(_) => fail!("entity {id:?} is not a thread"),
            None => fail!("no entity {id:?}"),
        }
    }

    /// A copy for an operation on a thread: clients, databases, collections and saved
    /// values (sharing connections with these); cursors and threads stay here.
    pub fn share(&self) -> EntityMap {
        let map = self
            .map
            .iter()
            .filter_map(|(id, entity)| {
                let copy = match entity {
                    Entity::Client(c) => Entity::Client(ClientEntity {
                        client: c.client.clone(),
                        log: c.log.clone(),
                    }),
                    Entity::Database(d) => Entity::Database(d.clone()),
                    Entity::Collection(c) => Entity::Collection(c.clone()),
                    Entity::Bson(b) => Entity::Bson(b.clone()),
                    Entity::Bucket(b) => Entity::Bucket(b.clone()), // gridfs
                    Entity::Unsupported(why) => Entity::Unsupported(why.clone()),
                    Entity::Session(_) => {
                        Entity::Unsupported("missing: sessions used from a thread entity".into())
                    }
                    Entity::Cursor(_) | Entity::Thread(_) | Entity::ChangeStream(_) => return None,
                };
                Some((id.clone(), copy))
            })
            .collect();
        EntityMap { map }
    }

    /// The event logs of every client entity.
    pub fn logs(&self) -> Vec<Arc<EventLog>> {
        self.map
            .values()
            .filter_map(|e| match e {
                Entity::Client(c) => Some(c.log.clone()),
                _ => None,
            })
            .collect()
    }

    /// Creates one entity of `createEntities`.
    pub fn create(&mut self, description: &EntityDescription, uri: &str) -> Step {
        let entity = match description {
            EntityDescription::Client(c) => client(c, uri)?,
            EntityDescription::Database(d) => match self.map.get(&d.client) {
                None => return fail!("database {}: no client {:?}", d.id, d.client),
                Some(Entity::Unsupported(why)) => Entity::Unsupported(why.clone()),
                Some(Entity::Client(c)) => {
                    let db = c.client.database(&d.database_name);
                    match d.database_options.as_ref() {
                        Some(o) => database_with_options(db, o)?,
                        None => Entity::Database(db),
                    }
                }
                Some(_) => return fail!("database {}: {:?} is not a client", d.id, d.client),
            },
            EntityDescription::Collection(c) => match self.map.get(&c.database) {
                None => return fail!("collection {}: no database {:?}", c.id, c.database),
                Some(Entity::Unsupported(why)) => Entity::Unsupported(why.clone()),
                Some(Entity::Database(db)) => {
                    let coll = db.collection::<Document>(&c.collection_name);
                    match c.collection_options.as_ref() {
                        Some(o) => with_options(coll, o)?,
                        None => Entity::Collection(coll),
                    }
                }
                Some(_) => return fail!("collection {}: {:?} is not a database", c.id, c.database),
            },
            EntityDescription::Session(d) => match self.map.get(&d.client) {
                None => return fail!("session {}: no client {:?}", d.id, d.client),
                Some(Entity::Unsupported(why)) => Entity::Unsupported(why.clone()),
                Some(Entity::Client(c)) => {
                    super::sessions::create(&c.client, d, |id| self.bson(id))?
                }
                Some(_) => return fail!("session {}: {:?} is not a client", d.id, d.client),
            },
            EntityDescription::Bucket(b) => super::gridfs::bucket(self, b)?, // gridfs
            EntityDescription::Thread(_) => Entity::Thread(ThreadEntity::default()),
            EntityDescription::ClientEncryption(_) => {
                Entity::Unsupported("client-side encryption not supported".into())
            }
        };
        self.insert(description.id(), entity)
    }
}

fn client(c: &ClientDescription, base_uri: &str) -> Step<Entity> {
    let unsupported = |why: &str| Ok(Entity::Unsupported(why.to_owned()));
    if c.auto_encrypt_opts.is_some() {
        return unsupported("client-side encryption not supported");
    }
    if c.observe_log_messages.is_some() {
        return unsupported("missing: log message assertions (observeLogMessages)");
    }
    if c.store_events_as_entities.is_some() {
        return unsupported("missing: storeEventsAsEntities");
    }
    let uri = match client_uri(base_uri, c.uri_options.as_ref()) {
        Ok(uri) => uri,
        Err(why) => return unsupported(&why),
    };
    let mut options = ClientOptions::parse(&uri)
        .map_err(|e| super::outcome::Stop::Fail(format!("{uri}: {e}")))?;
    if let Some(spec) = &c.server_api {
        options.server_api =
            Some(super::server_api::parse(spec).map_err(super::outcome::Stop::Fail)?);
    }
    let log = EventLog::new(c);
    options.command_event_handler = Some(log.handler());
    options.sdam_event_handler = Some(log.sdam_handler());
    let (hosts, min_pool_size) = (options.hosts.clone(), options.min_pool_size.unwrap_or(0));
    let client = Client::with_cmap_event_handler(options, log.cmap_handler())
        .map_err(|e| super::outcome::Stop::Fail(format!("client {}: {e}", c.id)))?;
    if let Some(ms) = c.await_min_pool_size_ms {
        // The format: wait until every pool holds minPoolSize established connections.
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        let filled = || {
            hosts.iter().all(|host| {
                client.pool_counts(host).is_some_and(|n| {
                    (n.available + n.checked_out) as u64 >= u64::from(min_pool_size)
                })
            })
        };
        while !filled() {
            if std::time::Instant::now() >= until {
                return fail!(
                    "client {}: pools did not reach minPoolSize within {ms} ms",
                    c.id
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    Ok(Entity::Client(ClientEntity { client, log }))
}

/// The suite's URI with `uriOptions` applied (they replace options of the same name).
pub fn client_uri(base: &str, uri_options: Option<&Document>) -> Result<String, String> {
    let (head, query) = base.split_once('?').unwrap_or((base, ""));
    let mut head = head.to_owned();
    if !head.ends_with('/') && !head["mongodb://".len().min(head.len())..].contains('/') {
        head.push('/');
    }
    let options = uri_options.cloned().unwrap_or_default();
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or_default();
            !options.keys().any(|k| k.eq_ignore_ascii_case(key))
        })
        .map(str::to_owned)
        .collect();
    for (key, value) in &options {
        let values = match value {
            Bson::Array(tag_sets) => tag_sets.iter().map(uri_value).collect::<Result<_, _>>()?,
            v => vec![uri_value(v)?],
        };
        pairs.extend(values.into_iter().map(|v| format!("{key}={v}")));
    }
    Ok(format!("{head}?{}", pairs.join("&")))
}

fn uri_value(value: &Bson) -> Result<String, String> {
    Ok(match value {
        Bson::Boolean(b) => b.to_string(),
        Bson::Int32(i) => i.to_string(),
        Bson::Int64(i) => i.to_string(),
        Bson::Double(d) if d.fract() == 0.0 => (*d as i64).to_string(),
        Bson::Double(d) => d.to_string(),
        Bson::String(s) => percent_encode(s),
        Bson::Document(d) if d.contains_key("$$placeholder") => {
            return Err("missing: $$placeholder values in uriOptions".to_owned());
        }
        Bson::Document(d) => d
            .iter()
            .map(|(k, v)| Ok(format!("{}:{}", percent_encode(k), uri_value(v)?)))
            .collect::<Result<Vec<_>, String>>()?
            .join(","),
        other => return Err(format!("uriOptions value {other} cannot go in a URI")),
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn with_options(coll: Collection<Document>, o: &CollectionOrDatabaseOptions) -> Step<Entity> {
    let mut coll = coll;
    if let Some(ms) = o.timeout_ms {
        coll = coll.with_timeout(std::time::Duration::from_millis(ms.max(0) as u64));
    }
    if let Some(wc) = &o.write_concern {
        coll = coll.with_write_concern(write_concern(wc)?);
    }
    if let Some(rc) = &o.read_concern {
        coll = coll.with_read_concern(read_concern(&rc.level));
    }
    if let Some(rp) = &o.read_preference {
        match read_preference(rp) {
            Ok(rp) => coll = coll.with_read_preference(rp),
            Err(why) => return Ok(Entity::Unsupported(why)),
        }
    }
    Ok(Entity::Collection(coll))
}

fn database_with_options(db: Database, o: &CollectionOrDatabaseOptions) -> Step<Entity> {
    let mut db = db;
    if let Some(ms) = o.timeout_ms {
        db = db.with_timeout(std::time::Duration::from_millis(ms.max(0) as u64));
    }
    if let Some(wc) = &o.write_concern {
        db = db.with_write_concern(write_concern(wc)?);
    }
    if let Some(rc) = &o.read_concern {
        db = db.with_read_concern(read_concern(&rc.level));
    }
    if let Some(rp) = &o.read_preference {
        match read_preference(rp) {
            Ok(rp) => db = db.with_read_preference(rp),
            Err(why) => return Ok(Entity::Unsupported(why)),
        }
    }
    Ok(Entity::Database(db))
}

pub fn write_concern(spec: &WriteConcernSpec) -> Step<WriteConcern> {
    let mut wc = WriteConcern::default();
    wc.w = match &spec.w {
        None => None,
        Some(Bson::Int32(n)) => Some(Acknowledgment::Nodes(*n as u32)),
        Some(Bson::Int64(n)) => Some(Acknowledgment::Nodes(*n as u32)),
        Some(Bson::String(s)) => Some(Acknowledgment::from(s.as_str())),
        Some(other) => return fail!("bad write concern w {other}"),
    };
    wc.journal = spec.journal;
    wc.w_timeout = spec.wtimeout_ms.map(|ms| Duration::from_millis(ms as u64));
    Ok(wc)
}

pub fn read_concern(level: &str) -> ReadConcern {
    ReadConcern::new(ReadConcernLevel::from(level))
}

/// A read preference, or why the driver cannot express it.
pub fn read_preference(spec: &ReadPreferenceSpec) -> Result<ReadPreference, String> {
    if spec.hedge.is_some() {
        return Err("missing option: readPreference.hedge".to_owned());
    }
    let mode: ReadPreferenceMode = spec.mode.parse().map_err(|e| format!("{e}"))?;
    let mut pref = ReadPreference::new(mode);
    for set in spec.tag_sets.iter().flatten() {
        let tags: TagSet = set
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        pref.tag_sets.push(tags);
    }
    pref.max_staleness = spec
        .max_staleness_seconds
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64));
    Ok(pref)
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::client_uri;

    #[test]
    fn uri_options_replace_options_of_the_same_name() {
        let base = "mongodb://127.0.0.1:1/?directConnection=true&w=1";
        let uri = client_uri(base, Some(&doc! { "W": "majority", "retryWrites": false })).unwrap();
        assert_eq!(
            uri,
            "mongodb://127.0.0.1:1/?directConnection=true&W=majority&retryWrites=false"
        );
        assert_eq!(
            client_uri("mongodb://h:1", None).unwrap(),
            "mongodb://h:1/?"
        );
        let tags = doc! { "readPreferenceTags": ["dc:ny,rack:1", ""], "appname": "a b" };
        assert_eq!(
            client_uri("mongodb://h/", Some(&tags)).unwrap(),
            "mongodb://h/?readPreferenceTags=dc:ny,rack:1&readPreferenceTags=&appname=a%20b"
        );
    }
}

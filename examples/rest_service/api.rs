//! The JSON API over the `items` collection: routes, validation and handlers.
//!
//! Handlers are plain blocking code calling the driver; each runs in its connection's
//! coroutine, so a query parks that coroutine only. Every failure becomes a JSON error
//! `{ "error": "..." }`: 4xx for the client's mistakes, 500 with the driver's message.
//!
//! | route | methods |
//! | --- | --- |
//! | `/items` | `POST` create (201), `GET ?q=&tag=&page=&per_page=` search |
//! | `/items/{id}` | `GET`, `PUT` replace, `PATCH` update some fields, `DELETE` (204) |
//! | `/stats` | `GET` runtime and service counters |

use std::{
    collections::HashSet,
    os::fd::RawFd,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Instant,
};

use bson::{Document, doc, oid::ObjectId};
use greenmongo::{
    Client, Collection, Database,
    options::{FindOneAndUpdateOptions, FindOptions, IndexModel, ReturnDocument},
    runtime::{Handle, sync::WaitGroup},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::http::{Request, Response, percent_decode};

/// The collection the API serves.
pub const ITEMS: &str = "items";
/// Search results per page unless `per_page` says otherwise, and the most it may say.
const DEFAULT_PER_PAGE: u64 = 20;
const MAX_PER_PAGE: u64 = 100;
/// Deep pages cost a long skip on the server; past this, narrow the search instead.
const MAX_PAGE: u64 = 100_000;
const MAX_NAME_CHARS: usize = 200;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;

/// An item as stored: `_id` is an ObjectId in BSON and its hex string in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub name: String,
    pub price: f64,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Item {
    pub fn to_json(&self) -> Value {
        json!({
            "_id": self.id.to_hex(),
            "name": self.name,
            "price": self.price,
            "tags": self.tags,
        })
    }
}

/// Counters for `GET /stats`, shared by the connections.
#[derive(Debug)]
pub struct Stats {
    pub requests: AtomicU64,
    pub responses_2xx: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub connections_accepted: AtomicU64,
    /// One count per open connection, so a shutdown can wait for them to finish.
    pub connections_open: WaitGroup,
    /// Connection coroutines that ended in a panic (a bug; the test checks for none).
    pub panics: AtomicU64,
    /// The sockets of the open HTTP connections, to tell them from MongoDB's in a
    /// coroutine dump. A std mutex: held to insert, remove or copy, never across a wait.
    http_sockets: Mutex<HashSet<RawFd>>,
    started: Instant,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            requests: AtomicU64::new(0),
            responses_2xx: AtomicU64::new(0),
            responses_4xx: AtomicU64::new(0),
            responses_5xx: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_open: WaitGroup::new(),
            panics: AtomicU64::new(0),
            http_sockets: Mutex::new(HashSet::new()),
            started: Instant::now(),
        }
    }

    pub fn connection_opened(&self, socket: RawFd) {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_open.add(1);
        self.sockets().insert(socket);
    }

    pub fn connection_closed(&self, socket: RawFd) {
        self.sockets().remove(&socket);
        self.connections_open.done();
    }

    /// The file descriptors of the open HTTP connections.
    pub fn http_sockets(&self) -> HashSet<RawFd> {
        self.sockets().clone()
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, HashSet<RawFd>> {
        self.http_sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one answered request.
    pub fn record(&self, status: u16) {
        self.requests.fetch_add(1, Relaxed);
        let class = match status {
            200..=299 => &self.responses_2xx,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        };
        class.fetch_add(1, Relaxed);
    }
}

/// The API: the collection, the client and runtime (for their metrics), the counters.
#[derive(Debug)]
pub struct Api {
    items: Collection<Item>,
    client: Client,
    runtime: Handle,
    stats: Arc<Stats>,
}

/// A failed request: the status and message of its `{ "error": ... }` response.
#[derive(Debug)]
struct ApiError {
    status: u16,
    message: String,
    /// For 405: the methods the route has.
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            allow: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }

    fn method_not_allowed(method: &str, path: &str, allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                405,
                format!("{method} is not allowed on {path} (allowed: {allow})"),
            )
        }
    }

    fn into_response(self) -> Response {
        let response = Response::error(self.status, self.message);
        match self.allow {
            Some(allow) => response.with_header("Allow", allow),
            None => response,
        }
    }
}

/// Any driver or server failure is the service's fault, not the client's: 500.
impl From<greenmongo::Error> for ApiError {
    fn from(e: greenmongo::Error) -> ApiError {
        ApiError::new(500, format!("database error: {e}"))
    }
}

type Reply = Result<Response, ApiError>;

/// What a path names.
enum Route<'a> {
    Items,
    Item(&'a str),
    Stats,
}

fn route(path: &str) -> Option<Route<'_>> {
    match path.strip_prefix('/')?.split('/').collect::<Vec<_>>()[..] {
        ["items"] => Some(Route::Items),
        ["items", id] if !id.is_empty() => Some(Route::Item(id)),
        ["stats"] => Some(Route::Stats),
        _ => None,
    }
}

/// Indexes for the searches: by name, and by tag (a multikey index).
pub fn create_indexes(db: &Database) -> greenmongo::Result<Vec<String>> {
    db.collection::<Item>(ITEMS)
        .create_indexes([
            IndexModel::builder().keys(doc! { "name": 1 }).build(),
            IndexModel::builder().keys(doc! { "tags": 1 }).build(),
        ])
        .run()
        .map(|result| result.index_names)
}

impl Api {
    /// The API over `db.items`.
    pub fn new(db: &Database, runtime: Handle) -> Api {
        Api {
            items: db.collection(ITEMS),
            client: db.client().clone(),
            runtime,
            stats: Arc::new(Stats::new()),
        }
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Answers one request. Never panics on bad input: every failure is a JSON error.
    pub fn handle(&self, request: &Request) -> Response {
        self.dispatch(request)
            .unwrap_or_else(ApiError::into_response)
    }

    fn dispatch(&self, request: &Request) -> Reply {
        let (method, path) = (request.method.as_str(), request.path.as_str());
        match (route(path), method) {
            (Some(Route::Items), "POST") => self.create(&request.body),
            (Some(Route::Items), "GET") => self.search(&request.query),
            (Some(Route::Items), _) => Err(ApiError::method_not_allowed(method, path, "GET, POST")),
            (Some(Route::Item(id)), "GET") => self.get(parse_id(id)?),
            (Some(Route::Item(id)), "PUT") => self.replace(parse_id(id)?, &request.body),
            (Some(Route::Item(id)), "PATCH") => self.update(parse_id(id)?, &request.body),
            (Some(Route::Item(id)), "DELETE") => self.delete(parse_id(id)?),
            (Some(Route::Item(_)), _) => Err(ApiError::method_not_allowed(
                method,
                path,
                "GET, PUT, PATCH, DELETE",
            )),
            (Some(Route::Stats), "GET") => Ok(self.runtime_stats()),
            (Some(Route::Stats), _) => Err(ApiError::method_not_allowed(method, path, "GET")),
            (None, _) => Err(ApiError::new(
                404,
                format!("no route for {path} (try /items, /items/{{id}}, /stats)"),
            )),
        }
    }

    /// `POST /items`: 201 with the new item and its `Location`.
    fn create(&self, body: &[u8]) -> Reply {
        let fields: ItemFields = parse_body(body)?;
        if fields.id.is_some() {
            return Err(ApiError::bad_request(
                "`_id` is assigned by the server: leave it out",
            ));
        }
        let item = fields.into_item(ObjectId::new())?;
        self.items.insert_one(&item).run()?;
        Ok(Response::json(201, item.to_json())
            .with_header("Location", format!("/items/{}", item.id.to_hex())))
    }

    /// `GET /items/{id}`.
    fn get(&self, id: ObjectId) -> Reply {
        match self.items.find_one(doc! { "_id": id }).run()? {
            Some(item) => Ok(Response::json(200, item.to_json())),
            None => Err(not_found(id)),
        }
    }

    /// `PUT /items/{id}`: replaces the whole item (name and price required).
    fn replace(&self, id: ObjectId, body: &[u8]) -> Reply {
        let fields: ItemFields = parse_body(body)?;
        if fields
            .id
            .as_deref()
            .is_some_and(|body_id| body_id != id.to_hex())
        {
            return Err(ApiError::bad_request(
                "`_id` in the body differs from the id in the URL",
            ));
        }
        let item = fields.into_item(id)?;
        let result = self.items.replace_one(doc! { "_id": id }, &item).run()?;
        if result.matched_count == 0 {
            return Err(not_found(id));
        }
        Ok(Response::json(200, item.to_json()))
    }

    /// `PATCH /items/{id}`: sets the fields given, returns the item as it is now.
    fn update(&self, id: ObjectId, body: &[u8]) -> Reply {
        let patch: ItemPatch = parse_body(body)?;
        let set = patch.into_set_document()?;
        let after = FindOneAndUpdateOptions {
            return_document: Some(ReturnDocument::After),
            ..Default::default()
        };
        match self
            .items
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .with_options(after)
            .run()?
        {
            Some(item) => Ok(Response::json(200, item.to_json())),
            None => Err(not_found(id)),
        }
    }

    /// `DELETE /items/{id}`: 204.
    fn delete(&self, id: ObjectId) -> Reply {
        match self
            .items
            .delete_one(doc! { "_id": id })
            .run()?
            .deleted_count
        {
            0 => Err(not_found(id)),
            _ => Ok(Response::no_content()),
        }
    }

    /// `GET /items?q=&tag=&page=&per_page=`: one page, oldest first, and the total count.
    fn search(&self, query: &str) -> Reply {
        let search = SearchQuery::parse(query)?;
        let filter = search.filter();
        let page = FindOptions {
            sort: Some(doc! { "_id": 1 }),
            skip: Some((search.page - 1) * search.per_page),
            limit: Some(search.per_page as i64),
            ..Default::default()
        };
        let items = self
            .items
            .find(filter.clone())
            .with_options(page)
            .run()?
            .map(|item| item.map(|item| item.to_json()))
            .collect::<greenmongo::Result<Vec<_>>>()?;
        let total = self.items.count_documents(filter).run()?;
        Ok(Response::json(
            200,
            json!({
                "items": items,
                "page": search.page,
                "per_page": search.per_page,
                "total": total,
                "pages": total.div_ceil(search.per_page),
            }),
        ))
    }

    /// `GET /stats`: the service's counters, the runtime's and the driver's pools'.
    fn runtime_stats(&self) -> Response {
        let metrics = self.runtime.metrics();
        let workers: Vec<Value> = metrics
            .workers
            .iter()
            .enumerate()
            .map(
                |(i, w)| json!({ "worker": i, "coroutines": w.coroutines, "runnable": w.runnable }),
            )
            .collect();
        let s = &self.stats;
        Response::json(
            200,
            json!({
                "requests_served": s.requests.load(Relaxed),
                "responses": {
                    "2xx": s.responses_2xx.load(Relaxed),
                    "4xx": s.responses_4xx.load(Relaxed),
                    "5xx": s.responses_5xx.load(Relaxed),
                },
                "connections": {
                    "open": s.connections_open.count(),
                    "accepted": s.connections_accepted.load(Relaxed),
                },
                "panics": s.panics.load(Relaxed),
                "uptime_seconds": s.started.elapsed().as_secs_f64(),
                "runtime": {
                    "coroutines": metrics.coroutines(),
                    "blocking_threads": metrics.blocking_threads,
                    "workers": workers,
                },
                "mongodb_pools": self.pool_stats(),
            }),
        )
    }

    /// One entry per server the driver knows: its connection pool's counts.
    fn pool_stats(&self) -> Vec<Value> {
        let topology = self.client.topology_description();
        topology
            .servers()
            .filter_map(|server| {
                let counts = self.client.pool_counts(&server.address)?;
                Some(json!({
                    "server": server.address.to_string(),
                    "checked_out": counts.checked_out,
                    "available": counts.available,
                    "pending": counts.pending,
                    "total": counts.total,
                    "waiting": counts.waiting,
                }))
            })
            .collect()
    }
}

fn not_found(id: ObjectId) -> ApiError {
    ApiError::new(404, format!("no item with id {}", id.to_hex()))
}

fn parse_id(id: &str) -> Result<ObjectId, ApiError> {
    ObjectId::parse_str(id).map_err(|_| {
        ApiError::bad_request(format!("invalid item id `{id}`: expected 24 hex digits"))
    })
}

/// A JSON object body as `T`, telling a syntax error from a wrong shape.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request needs a JSON object body",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid item: {e}")))
}

/// The body of `POST` and `PUT`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemFields {
    /// Allowed in `PUT` when it matches the URL, so a fetched item can be sent back.
    #[serde(rename = "_id", default)]
    id: Option<String>,
    name: String,
    price: f64,
    #[serde(default)]
    tags: Vec<String>,
}

impl ItemFields {
    fn into_item(self, id: ObjectId) -> Result<Item, ApiError> {
        check_name(&self.name)?;
        check_price(self.price)?;
        check_tags(&self.tags)?;
        Ok(Item {
            id,
            name: self.name,
            price: self.price,
            tags: self.tags,
        })
    }
}

/// The body of `PATCH`: any of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemPatch {
    name: Option<String>,
    price: Option<f64>,
    tags: Option<Vec<String>>,
}

impl ItemPatch {
    fn into_set_document(self) -> Result<Document, ApiError> {
        let mut set = Document::new();
        if let Some(name) = self.name {
            check_name(&name)?;
            set.insert("name", name);
        }
        if let Some(price) = self.price {
            check_price(price)?;
            set.insert("price", price);
        }
        if let Some(tags) = self.tags {
            check_tags(&tags)?;
            set.insert("tags", tags);
        }
        if set.is_empty() {
            return Err(ApiError::bad_request(
                "nothing to update: give name, price or tags",
            ));
        }
        Ok(set)
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    match name.trim().chars().count() {
        0 => Err(ApiError::bad_request("`name` must not be blank")),
        n if n > MAX_NAME_CHARS => Err(ApiError::bad_request(format!(
            "`name` is {n} characters; at most {MAX_NAME_CHARS}"
        ))),
        _ => Ok(()),
    }
}

fn check_price(price: f64) -> Result<(), ApiError> {
    if price.is_finite() && price >= 0.0 {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`price` must be a number ≥ 0, not {price}"
        )))
    }
}

fn check_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!(
            "{} tags; at most {MAX_TAGS}",
            tags.len()
        )));
    }
    match tags
        .iter()
        .find(|t| t.trim().is_empty() || t.chars().count() > MAX_TAG_CHARS)
    {
        Some(tag) => Err(ApiError::bad_request(format!(
            "tag `{tag}` must be 1 to {MAX_TAG_CHARS} characters, not blank"
        ))),
        None => Ok(()),
    }
}

/// The query string of a search.
#[derive(Debug, PartialEq)]
struct SearchQuery {
    /// A substring of the name, matched case-insensitively.
    name_contains: Option<String>,
    tag: Option<String>,
    /// From 1.
    page: u64,
    per_page: u64,
}

impl SearchQuery {
    fn parse(query: &str) -> Result<SearchQuery, ApiError> {
        let mut search = SearchQuery {
            name_contains: None,
            tag: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(raw).map_err(ApiError::bad_request)?;
            match key {
                "q" => search.name_contains = Some(value).filter(|v| !v.is_empty()),
                "tag" => search.tag = Some(value).filter(|v| !v.is_empty()),
                "page" => search.page = parse_bounded(key, &value, MAX_PAGE)?,
                "per_page" => search.per_page = parse_bounded(key, &value, MAX_PER_PAGE)?,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unknown query parameter `{key}` (use q, tag, page, per_page)"
                    )));
                }
            }
        }
        Ok(search)
    }

    fn filter(&self) -> Document {
        let mut filter = Document::new();
        if let Some(text) = &self.name_contains {
            // A literal substring: the user's text must not act as a pattern.
            filter.insert(
                "name",
                doc! { "$regex": escape_regex(text), "$options": "i" },
            );
        }
        if let Some(tag) = &self.tag {
            filter.insert("tags", tag.as_str()); // matches an element of the array
        }
        filter
    }
}

fn parse_bounded(key: &str, value: &str, max: u64) -> Result<u64, ApiError> {
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "`{key}` must be a whole number from 1 to {max}, not `{value}`"
        ))),
    }
}

/// Backslash before every ASCII punctuation character: literal in PCRE and Python's `re`
/// alike (SecantusDB is written in Python).
fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

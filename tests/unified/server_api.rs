//! The Stable API in the unified runner: a client entity's `serverApi` (unified-test-format
//! spec, "client" entity) and the server parameter the versioned-api tests require.

use bson::{Bson, Document};
use greenmongo::options::{ServerApi, ServerApiVersion};

/// `createEntities.client.serverApi`: `{ version, strict?, deprecationErrors? }`.
///
/// # Errors
/// A missing or unknown version, a flag that is not a boolean, or another field (as the
/// runner's `deny_unknown_fields` would refuse it, so a new field in a spec file is
/// noticed).
pub fn parse(spec: &Document) -> Result<ServerApi, String> {
    let mut version = None;
    let mut strict = None;
    let mut deprecation_errors = None;
    for (key, value) in spec {
        match (key.as_str(), value) {
            ("version", Bson::String(v)) => {
                version = Some(v.parse::<ServerApiVersion>().map_err(|e| e.to_string())?)
            }
            ("strict", Bson::Boolean(b)) => strict = Some(*b),
            ("deprecationErrors", Bson::Boolean(b)) => deprecation_errors = Some(*b),
            (key, value) => return Err(format!("serverApi.{key}: unexpected {value}")),
        }
    }
    let version = version.ok_or("serverApi needs a version")?;
    Ok(ServerApi::builder()
        .version(version)
        .strict(strict)
        .deprecation_errors(deprecation_errors)
        .build())
}

/// The value a server parameter has on a server that does not know it, where absence
/// has a meaning: a server without `requireApiVersion` (SecantusDB answers
/// `getParameter` without it) never requires an API version, i.e. `false`. Any other
/// unknown parameter stays unmet.
pub fn absent_parameter(name: &str) -> Option<Bson> {
    (name == "requireApiVersion").then_some(Bson::Boolean(false))
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn server_api_entities_parse_as_the_spec_writes_them() {
        let api = parse(&doc! { "version": "1", "strict": true }).unwrap();
        assert_eq!(
            (api.version, api.strict, api.deprecation_errors),
            (ServerApiVersion::V1, Some(true), None)
        );
        assert!(parse(&doc! { "version": "2" }).is_err());
        assert!(parse(&doc! { "strict": true }).is_err());
        assert!(parse(&doc! { "version": "1", "apiStrict": true }).is_err());
        assert_eq!(
            absent_parameter("requireApiVersion"),
            Some(Bson::Boolean(false))
        );
        assert_eq!(absent_parameter("acceptApiVersion2"), None);
    }
}

//! The Connection String spec tests (`connection-string/tests/*.json`).

mod util {
    pub mod spec;
}

/// Cases this driver skips, with the reason; none so far.
const SKIPS: &[(&str, &str)] = &[];

#[test]
fn connection_string_spec() {
    util::spec::run_uri_suite("connection-string/tests", SKIPS);
}

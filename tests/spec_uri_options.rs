//! The URI Options spec tests (`uri-options/tests/*.json`).

mod util {
    pub mod spec;
}

/// Cases this driver skips, with the reason; none so far.
const SKIPS: &[(&str, &str)] = &[];

#[test]
fn uri_options_spec() {
    util::spec::run_uri_suite("uri-options/tests", SKIPS);
}

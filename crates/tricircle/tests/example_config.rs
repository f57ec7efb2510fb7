//! The example configuration in the repository parses, and its values are
//! the defaults it claims to show.

#[test]
fn example_config_is_valid_and_shows_the_defaults() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tricircle.example.toml");
    let example = tricircle_common::config::Config::load_from(Some(&path), Vec::new()).unwrap();
    let defaults = tricircle_common::config::Config::load_from(None, Vec::new()).unwrap();
    assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
}

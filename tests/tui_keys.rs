//! docs/keys.md is generated from the one key table that also drives dispatch, the footer
//! and the help overlay; this keeps the file in step. To refresh it after changing the
//! table: `DELTASCOPE_WRITE_KEYS_DOC=1 cargo test --test tui_keys`.

use deltascope::app::keymap::markdown;

#[test]
fn docs_keys_md_matches_the_key_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keys.md");
    let expected = markdown();
    if std::env::var_os("DELTASCOPE_WRITE_KEYS_DOC").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual, expected,
        "docs/keys.md is out of date; run DELTASCOPE_WRITE_KEYS_DOC=1 cargo test --test tui_keys"
    );
}

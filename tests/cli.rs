//! CLI snapshots: each `tests/cmd/*.toml` is a command line with its expected
//! stdout, stderr and exit code. Update with `TRYCMD=overwrite cargo test --test cli`.

#[test]
fn cli() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}

//! Records the git commit and build profile for `threadkit --version`, and turns OpenAI's
//! vocabulary files into the form the binary embeds.

fn main() {
    vocabularies();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown commit".to_string());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=THREADKIT_COMMIT={commit}");
    println!("cargo:rustc-env=THREADKIT_PROFILE={profile}");
    // Rebuild the version string when the checked-out commit changes.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// OpenAI's vocabulary files (`src/tokens/vocab/*.tiktoken.gz`: a token's bytes in base64 and
/// its rank per line, gzipped as `bpe-openai` ships them) as `OUT_DIR/{name}.tokens`: each token
/// as one length byte and its bytes, in rank order. Smaller than the gzipped text (2.3 MB for the
/// two; 1.5 MB in the wheel's zip) and read without inflating or decoding: the token counter's
/// tables are built from it at the start of every export, while the workers wait.
fn vocabularies() {
    use base64::Engine;
    use std::io::Read;
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in ["o200k_base", "cl100k_base"] {
        let source = format!("{}/src/tokens/vocab/{name}.tiktoken.gz", env!("CARGO_MANIFEST_DIR"));
        println!("cargo:rerun-if-changed={source}");
        let gzipped = std::fs::read(&source).unwrap_or_else(|e| panic!("{source}: {e}"));
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(gzipped.as_slice()).read_to_end(&mut text).unwrap_or_else(|e| panic!("{source}: {e}"));
        let mut tokens = Vec::with_capacity(text.len() / 2);
        for (rank, line) in text.split(|&b| b == b'\n').filter(|line| !line.is_empty()).enumerate() {
            let mut fields = line.split(|&b| b == b' ');
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(fields.next().expect("split yields a part"))
                .unwrap_or_else(|e| panic!("{source}: line {}: {e}", rank + 1));
            // The ranks are the line numbers (the counter's tables rely on it), and every
            // token fits its length byte.
            assert_eq!(fields.next(), Some(rank.to_string().as_bytes()), "{source}: line {}: rank", rank + 1);
            let len = u8::try_from(bytes.len()).unwrap_or_else(|_| panic!("{source}: line {}: a token over 255 bytes", rank + 1));
            assert!(len > 0, "{source}: line {}: an empty token", rank + 1);
            tokens.push(len);
            tokens.extend_from_slice(&bytes);
        }
        std::fs::write(out.join(format!("{name}.tokens")), tokens).expect("OUT_DIR is writable");
    }
}

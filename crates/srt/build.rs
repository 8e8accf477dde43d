//! Links libsrt, the library FFmpeg and OBS use (Debian: `libsrt-openssl-dev`,
//! which `make` installs).

fn main() {
    println!("cargo:rustc-link-lib=dylib=srt");
    println!("cargo:rerun-if-changed=build.rs");
}

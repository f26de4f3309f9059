//! Link settings for the shared library: SONAME, entry point (the supervisor),
//! and -z nodelete; plus the library directory baked in for static users.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    // The C ABI is versioned by the major number: libsandlock.so.0.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsandlock.so.{major}");
    // The .so is executable and runs as the supervisor (src/entry.rs).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-e,sl__supervisor_start");
    // Thread-local destructors must not run after dlclose (rust-lang/rust#59629).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    // Where `make install` puts the library, for hosts that link libsandlock.a.
    let libdir = std::env::var("SANDLOCK_LIBDIR").unwrap_or_else(|_| "/usr/local/lib".into());
    println!("cargo:rustc-env=SANDLOCK_LIBDIR={libdir}");
    println!("cargo:rerun-if-env-changed=SANDLOCK_LIBDIR");
    println!("cargo:rerun-if-changed=build.rs");
}

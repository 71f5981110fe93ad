//! Precompile v4's golden vectors, `testdata/vectors/precompile-v4/` (see `vector_suite`).
//!
//! `cargo test -p aiop-precompile --test vectors_v4 -- --ignored` writes vectors that do not
//! exist yet and refuses to change a published one.

mod common;
mod vector_suite;

use aiop_precompile::PrecompileSpec;

#[test]
#[ignore = "writes testdata/vectors/precompile-v4; run by hand to add vectors"]
fn generate_precompile_v4_vectors() {
    vector_suite::generate(PrecompileSpec::V4);
}

#[test]
fn precompile_v4_vectors_match_on_every_kernel_path() {
    vector_suite::check(PrecompileSpec::V4);
}

//! Precompile v3's golden vectors, `testdata/vectors/precompile-v3/` (see `vector_suite`).
//!
//! `cargo test -p aiop-precompile --test vectors_v3 -- --ignored` writes vectors that do not
//! exist yet and refuses to change a published one.

mod common;
mod vector_suite;

use aiop_precompile::PrecompileSpec;

#[test]
#[ignore = "writes testdata/vectors/precompile-v3; run by hand to add vectors"]
fn generate_precompile_v3_vectors() {
    vector_suite::generate(PrecompileSpec::V3);
}

#[test]
fn precompile_v3_vectors_match_on_every_kernel_path() {
    vector_suite::check(PrecompileSpec::V3);
}

//! Precompile v5's golden vectors, `testdata/vectors/precompile-v5/` (see `vector_suite`).
//!
//! `cargo test -p aiop-precompile --test vectors_v5 -- --ignored` writes vectors that do not
//! exist yet and refuses to change a published one.

mod common;
mod vector_suite;

use aiop_precompile::PrecompileSpec;

#[test]
#[ignore = "writes testdata/vectors/precompile-v5; run by hand to add vectors"]
fn generate_precompile_v5_vectors() {
    vector_suite::generate(PrecompileSpec::V5);
}

#[test]
fn precompile_v5_vectors_match_on_every_kernel_path() {
    vector_suite::check(PrecompileSpec::V5);
}
